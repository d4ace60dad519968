"""Serial-line timing of Modbus RTU: character time, the 3.5-character silence, wire time.

Layer: pure arithmetic (Modbus over serial line V1.02, §2.5.1.1; figures in
``../shared/domain/FACTS.md`` §7). Used by the bus master to keep frames apart,
by the RTU simulator to hold its replies for their wire time, and by ``bench/``
to state a bus's theoretical limit.
"""

from __future__ import annotations

from typing import Literal

Parity = Literal["N", "E", "O"]

# Above 19200 baud the spec fixes the silent interval instead of scaling it.
FAST_BAUD = 19200
FAST_T35_S = 0.00175
FAST_T15_S = 0.00075
# a read request: slave, function, start (2), count (2), CRC (2)
READ_REQUEST_BYTES = 8


def bits_per_char(parity: Parity = "N", stopbits: int = 1, bytesize: int = 8) -> int:
    """Bits on the wire per byte: start + data + parity + stop."""
    return 1 + bytesize + (0 if parity == "N" else 1) + stopbits


def char_time_s(baudrate: int, parity: Parity = "N", stopbits: int = 1, bytesize: int = 8) -> float:
    """Seconds one byte occupies the line."""
    if baudrate <= 0:
        raise ValueError(f"baud rate {baudrate} must be positive")
    return bits_per_char(parity, stopbits, bytesize) / baudrate


def silent_interval_s(
    baudrate: int, parity: Parity = "N", stopbits: int = 1, bytesize: int = 8
) -> float:
    """t3.5: the silence that ends a frame and must precede the next one."""
    if baudrate > FAST_BAUD:
        return FAST_T35_S
    return 3.5 * char_time_s(baudrate, parity, stopbits, bytesize)


def read_reply_bytes(count: int) -> int:
    """Bytes of the reply to a read of ``count`` registers: slave, function, length, data, CRC."""
    return 5 + 2 * count


def read_transaction_s(
    count: int, baudrate: int, parity: Parity = "N", stopbits: int = 1, latency_s: float = 0.0
) -> float:
    """Shortest time one read of ``count`` registers occupies the bus, silences included.

    request + t3.5 + slave latency + reply + t3.5 (FACTS.md §7).
    """
    char_s = char_time_s(baudrate, parity, stopbits)
    t35_s = silent_interval_s(baudrate, parity, stopbits)
    wire_s = (READ_REQUEST_BYTES + read_reply_bytes(count)) * char_s
    return wire_s + 2 * t35_s + latency_s
