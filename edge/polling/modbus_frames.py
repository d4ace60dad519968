"""Modbus requests and replies as bytes: pymodbus's framers, wrapped sans-IO.

Layer: pure (no asyncio, no serial, no socket). The framing itself is
pymodbus's (``FramerRTU`` with its CRC, ``FramerSocket`` with the MBAP header);
this module only gives the bus master one contract for both: build a request,
and split a receive buffer into ``(used, reply or None)`` while telling a
checksum failure from garbage by what the framer returned, never by log text.

Framings: ``rtu`` (serial lines, and RS-485-to-Ethernet converters in
transparent mode) and ``tcp`` (Modbus TCP, MBAP header with a transaction id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pymodbus.framer import FramerRTU, FramerSocket
from pymodbus.framer.base import FramerBase
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsRequest, ReadDiscreteInputsRequest
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersRequest,
    ReadInputRegistersRequest,
    WriteMultipleRegistersRequest,
    WriteSingleRegisterRequest,
)

Framing = Literal["rtu", "tcp"]

# RTU: slave id + function code + CRC; a shorter buffer cannot be judged yet.
_RTU_MIN_FRAME = 4
MAX_READ_REGISTERS = 125
MAX_READ_BITS = 2000
_READS: dict[int, tuple[type[ModbusPDU], int]] = {
    1: (ReadCoilsRequest, MAX_READ_BITS),
    2: (ReadDiscreteInputsRequest, MAX_READ_BITS),
    3: (ReadHoldingRegistersRequest, MAX_READ_REGISTERS),
    4: (ReadInputRegistersRequest, MAX_READ_REGISTERS),
}
TABLE_NAMES = {1: "coils", 2: "discrete inputs", 3: "holding registers", 4: "input registers"}


class FrameError(ValueError):
    """Bytes that are no acceptable reply.

    Attributes:
        kind: ``crc`` (checksum wrong) or ``garbage`` (not a Modbus reply at all).
    """

    def __init__(self, message: str, kind: Literal["crc", "garbage"]) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Reply:
    """One decoded reply frame: who sent it, its transaction id (0 on RTU), its PDU."""

    slave: int
    tid: int
    pdu: ModbusPDU

    @property
    def exception_code(self) -> int | None:
        """The Modbus exception code, if the reply is an exception response."""
        if isinstance(self.pdu, ExceptionResponse):
            return int(self.pdu.exception_code)
        return None


def read_request(function_code: int, start: int, count: int) -> ModbusPDU:
    """The PDU reading ``count`` registers (bits, for FC01/02) from ``start``.

    Raises:
        ValueError: not function code 1..4, count beyond its limit (125 registers,
            2000 bits), or addresses past 65535.
    """
    if function_code not in _READS:
        raise ValueError(f"function code {function_code} is not a read (1..4)")
    kind, limit = _READS[function_code]
    if not 1 <= count <= limit:
        raise ValueError(f"count {count} outside 1..{limit}")
    if start < 0 or start + count > 0x10000:
        raise ValueError(f"registers {start}..{start + count - 1} outside 0..65535")
    return kind(address=start, count=count)


def read_values(reply: Reply, count: int) -> list[int]:
    """The register values of a read reply; bits as 0/1, cut to ``count`` (bytes pad them)."""
    if reply.pdu.function_code in (1, 2):
        return [int(bit) for bit in reply.pdu.bits[:count]]
    return list(reply.pdu.registers)


def write_request(address: int, value: int, function_code: int = 6) -> ModbusPDU:
    """The PDU writing one holding register: FC06, or FC16 for devices that want it."""
    if not 0 <= address <= 0xFFFF or not 0 <= value <= 0xFFFF:
        raise ValueError(f"register {address} value {value} outside 0..65535")
    if function_code == 16:
        return WriteMultipleRegistersRequest(address=address, registers=[value])
    return WriteSingleRegisterRequest(address=address, registers=[value])


class FrameCodec:
    """Builds requests and parses replies for one framing (client side)."""

    def __init__(self, framing: Framing) -> None:
        """Create the codec; holds no buffer (the caller owns it)."""
        self.framing = framing
        self._framer: FramerBase = (
            FramerRTU(DecodePDU(is_server=False))
            if framing == "rtu"
            else FramerSocket(DecodePDU(is_server=False))
        )

    def request(self, pdu: ModbusPDU, slave: int, tid: int = 0) -> bytes:
        """The request ADU for ``pdu`` to ``slave``; ``tid`` is used by the tcp framing only."""
        payload = pdu.function_code.to_bytes(1, "big") + pdu.encode()
        return self._framer.encode(payload, slave, tid if self.framing == "tcp" else 0)

    def parse(self, buffer: bytes) -> tuple[int, Reply | None]:
        """Take one reply off the front of ``buffer``.

        Returns:
            ``(used, reply)``; ``(0, None)`` means wait for more bytes.

        Raises:
            FrameError: a frame whose CRC is wrong (``crc``) or whose PDU pymodbus
                cannot decode (``garbage``); the caller drops the buffer.
        """
        if self.framing == "rtu" and len(buffer) < _RTU_MIN_FRAME:
            return 0, None
        used, slave, tid, data = self._framer.decode(buffer)
        if not used:
            return 0, None
        if not data:
            # FramerRTU consumes the whole buffer and returns no data exactly when
            # a complete frame fails its CRC check
            raise FrameError(f"CRC error in {buffer.hex(' ')}", "crc")
        pdu = self._framer.decoder.decode(data)
        if pdu is None:
            raise FrameError(f"undecodable reply {buffer[:used].hex(' ')}", "garbage")
        pdu.dev_id, pdu.transaction_id = slave, tid
        return used, Reply(slave, tid, pdu)
