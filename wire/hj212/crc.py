"""CRC-16 of HJ 212 (HJ 212-2017 Appendix A; unchanged in HJ 212-2025).

Layer: pure function over bytes.

The register starts at 0xFFFF; for each byte ``b`` it becomes ``(crc >> 8) ^ b``
and is then shifted right eight times, XOR-ing 0xA001 whenever a 1 falls out.
This is *not* the Modbus CRC-16 (which does ``crc ^= b``): over the standard's
own example (CN=1062) HJ 212 gives 1C80 where Modbus would give 0759. It covers
the data segment only (``QN=`` .. the closing ``&&``), never ``##``, the length
or the CRC itself, and is written as four upper-case hex digits.
"""

from __future__ import annotations


def _table() -> tuple[int, ...]:
    # (crc >> 8) ^ b is always below 256, so the eight shifts that follow depend on
    # one byte value only: precompute them, one lookup per byte, the same result.
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _table()


def crc16(data: bytes) -> int:
    """Return the HJ 212 CRC-16 of ``data`` (the data segment)."""
    crc = 0xFFFF
    for byte in data:
        crc = _TABLE[(crc >> 8) ^ byte]
    return crc


def crc16_hex(data: bytes) -> str:
    """The CRC as it is written in a packet: four upper-case hex digits."""
    return f"{crc16(data):04X}"
