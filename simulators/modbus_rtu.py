"""Simulated Modbus RTU slaves on a pseudo-terminal: one RS-485 bus, several devices.

Layer: asyncio around a pty pair. The gateway (or ``mbpoll``) opens
:attr:`RtuBus.port`, the pty's slave side, as it would ``/dev/ttyUSB0``; this
module listens on the master side. Requests are decoded with pymodbus's
``FramerRTU`` (server side); registers come from :class:`RegisterImage`, built
from the device profile, so the poller's decoding is tested against the same codec.

The wire is modelled, so bus timing means something: a reply is written when
it would have finished arriving on a real line: request bytes, then the t3.5
silence by which a slave knows the request ended, then the slave's latency,
then the reply bytes, each byte taking ``bits / baud`` seconds. The line
settings the client set (baud rate, parity) are read from the pty with
``tcgetattr``; a slave configured for other settings hears noise and stays
silent, as on a real bus, which is what ``shanshui edge scan`` relies on.

Per-slave faults (:class:`Faults`): silent, slow (extra latency), a fixed
exception code, a corrupted CRC, garbage instead of a reply; value faults go
through the image (stuck, out-of-range or sentinel raw values).
"""

from __future__ import annotations

import asyncio
import os
import termios
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse, ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
    WriteSingleRegisterRequest,
    WriteSingleRegisterResponse,
)

from device_profiles import Profile
from device_profiles.settings import SLAVE_ADDRESS
from simulators.errors import SimulatorError
from simulators.pty_pair import PtyPair
from simulators.register_image import RegisterImage
from simulators.signals import ValueGenerator, physical

_BAUD_CONSTANTS = {
    getattr(termios, f"B{baud}"): baud
    for baud in (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
}
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2
_FAST_BAUD, _FAST_T35_S = 19200, 0.00175


@dataclass
class Faults:
    """What is wrong with one simulated slave right now."""

    silent: bool = False
    latency_s: float = 0.0
    exception_code: int | None = None
    corrupt_crc: bool = False
    garbage: bool = False


@dataclass
class RtuSlave:
    """One device on the bus: its profile, line settings, address register and faults."""

    image: RegisterImage
    baudrate: int | None = None  # None: answers at whatever the line is set to
    parity: str = "N"
    latency_s: float = 0.005
    faults: Faults = field(default_factory=Faults)

    def hears(self, line: tuple[int, str]) -> bool:
        """True if the line's baud rate and parity are this slave's."""
        return self.baudrate is None or line == (self.baudrate, self.parity)


def line_char_s(baudrate: int, parity: str) -> float:
    """Seconds per byte at 8 data bits, one stop bit (two-stop lines are rare here)."""
    return (10 + (0 if parity == "N" else 1)) / baudrate


def line_t35_s(baudrate: int, parity: str) -> float:
    """The 3.5-character silence (fixed above 19200 baud, as the spec says)."""
    return _FAST_T35_S if baudrate > _FAST_BAUD else 3.5 * line_char_s(baudrate, parity)


class RtuBus:
    """A pty whose far end behaves like an RS-485 bus with the given slaves."""

    def __init__(
        self,
        slaves: Mapping[int, Profile | RtuSlave],
        *,
        update_interval_s: float | None = 1.0,
        generator: ValueGenerator | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Open the pty pair; nothing is served until :meth:`start`.

        Args:
            slaves: slave id (1..247) -> its profile, or a configured :class:`RtuSlave`.
            update_interval_s: how often unpinned values follow the generator
                (``None``: keep the values of start time).
            generator: the value source (default: :func:`signals.physical`, seed 0).
            clock_s: UTC epoch seconds handed to the generator.
        """
        self.slaves: dict[int, RtuSlave] = {}
        for slave_id, spec in slaves.items():
            if not 1 <= slave_id <= 247:
                raise SimulatorError(f"slave id {slave_id} outside 1..247")
            slave = spec if isinstance(spec, RtuSlave) else RtuSlave(RegisterImage(slave_id, spec))
            self.slaves[slave_id] = slave
        self._generator = generator or physical()
        self._clock_s = clock_s
        self._update_interval_s = update_interval_s
        self._pty = PtyPair()
        self._master_fd = self._pty.master_fd
        self.port = self._pty.port
        self._framer = FramerRTU(DecodePDU(is_server=True))
        self._buffer = b""
        self._updater: asyncio.Task[None] | None = None
        self.requests_seen = 0
        self.replies_sent = 0
        self.replied = asyncio.Event()  # set on every reply; clear it to wait for the next
        self._tcp_servers: list[asyncio.Server] = []
        self.update()

    def update(self, time_s: float | None = None) -> None:
        """Move every unpinned point to the generator's value (default: now)."""
        now_s = self._clock_s() if time_s is None else time_s
        for slave in self.slaves.values():
            slave.image.update(self._generator, now_s)

    def image(self, slave: int) -> RegisterImage:
        """The register image of ``slave`` (set values, raw sentinels, stuck sensors)."""
        return self.slaves[slave].image

    def faults(self, slave: int) -> Faults:
        """The faults of ``slave``, to be changed in place."""
        return self.slaves[slave].faults

    async def start(self) -> None:
        """Serve requests from the event loop."""
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master_fd, self._readable)
        if self._update_interval_s is not None:
            self._updater = asyncio.create_task(self._follow(self._update_interval_s))

    async def stop(self) -> None:
        """Stop serving and close the pty."""
        if self._updater is not None:
            self._updater.cancel()
            with suppress(asyncio.CancelledError):
                await self._updater
            self._updater = None
        for server in self._tcp_servers:
            server.close()
            await server.wait_closed()
        self._tcp_servers.clear()
        self._pty.close()

    async def __aenter__(self) -> RtuBus:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    def line(self) -> tuple[int, str]:
        """Baud rate and parity the client set on the port (8 data bits assumed)."""
        attrs = termios.tcgetattr(self._master_fd)
        cflag, speed = attrs[2], attrs[5]
        parity = "N" if not cflag & termios.PARENB else "O" if cflag & termios.PARODD else "E"
        return _BAUD_CONSTANTS.get(speed, 0), parity

    def _readable(self) -> None:
        try:
            data = os.read(self._master_fd, 4096)
        except OSError:  # nothing to read, or EIO: no client has the port open right now
            return
        self._buffer = self.consume(self._buffer + data, self.line(), self._send)

    def consume(self, buffer: bytes, line: tuple[int, str], send: Callable[[bytes], None]) -> bytes:
        """Answer every complete request in ``buffer``; return the bytes left over.

        Args:
            buffer: bytes received from one source (the pty, a TCP connection).
            line: baud rate and parity the bytes travel at.
            send: writes a reply frame back to that source.
        """
        received_s = time.monotonic()
        while buffer:
            used, slave_id, _tid, payload = self._framer.decode(buffer)
            if not used:
                break
            buffer = buffer[used:]
            if not payload:
                continue  # a request with a bad CRC: a real slave ignores it
            request = self._framer.decoder.decode(payload)
            if request is None:
                continue
            request.dev_id = slave_id
            self.requests_seen += 1
            self._answer(request, used, received_s, line, send)
        return buffer

    def _answer(
        self,
        request: ModbusPDU,
        request_bytes: int,
        received_s: float,
        line: tuple[int, str],
        send: Callable[[bytes], None],
    ) -> None:
        slave = self.slaves.get(request.dev_id)
        if slave is None or slave.faults.silent or not slave.hears(line):
            return
        reply = self._reply(slave, request)
        frame = self._framer.buildFrame(reply)
        if slave.faults.corrupt_crc:
            frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
        if slave.faults.garbage:
            frame = bytes((b * 7 + 3) & 0xFF for b in frame[: len(frame) // 2 or 1])
        baud, parity = line
        char_s = line_char_s(baud or 9600, parity)
        delay_s = (
            request_bytes * char_s
            + line_t35_s(baud or 9600, parity)
            + slave.latency_s
            + slave.faults.latency_s
            + len(frame) * char_s
        )
        loop = asyncio.get_running_loop()
        loop.call_at(loop.time() + (received_s + delay_s - time.monotonic()), send, frame)
        if isinstance(request, WriteSingleRegisterRequest):
            self._maybe_readdress(request)

    def _reply(self, slave: RtuSlave, request: ModbusPDU) -> ModbusPDU:
        function = request.function_code
        if slave.faults.exception_code is not None:
            return ExceptionResponse(function, slave.faults.exception_code, request.dev_id)
        if function in (1, 2, 3, 4):
            return _read_reply(slave, request)
        if isinstance(request, WriteSingleRegisterRequest):
            return _write_reply(slave, request)
        return ExceptionResponse(function, ILLEGAL_FUNCTION, request.dev_id)

    def _maybe_readdress(self, request: ModbusPDU) -> None:
        slave = self.slaves.get(request.dev_id)
        if slave is None or slave.faults.exception_code is not None:
            return
        setting = slave.image.profile.modbus.setting(SLAVE_ADDRESS)
        if setting is None or request.address != setting.address:
            return
        new_id = setting.decode(request.registers[0])
        if new_id is None or not 1 <= new_id <= 247:
            return
        if new_id in self.slaves and new_id != request.dev_id:
            return
        # the device answers at its old address, then takes the new one
        del self.slaves[request.dev_id]
        slave.image.slave = new_id
        self.slaves[new_id] = slave

    def _send(self, frame: bytes) -> None:
        with suppress(OSError):
            os.write(self._master_fd, frame)
        self.replies_sent += 1
        self.replied.set()

    async def serve_tcp(self, host: str = "127.0.0.1", port: int = 0, baudrate: int = 9600) -> int:
        """Also serve this bus through an RS-485-to-Ethernet converter (transparent mode).

        RTU frames arrive on TCP as the converter forwards them; ``baudrate`` is
        the converter's RS-485 side. Returns the TCP port; :meth:`stop` closes it.
        """
        line = (baudrate, "N")

        def connection() -> asyncio.Protocol:
            return _ConverterConnection(self, line)

        server = await asyncio.get_running_loop().create_server(connection, host, port)
        self._tcp_servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _follow(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)  # the signal's own period, not a race workaround
            self.update()


def _read_reply(slave: RtuSlave, request: ModbusPDU) -> ModbusPDU:
    function = request.function_code
    values = slave.image.read(function, request.address, request.count)
    if values is None:
        known = function in slave.image.tables
        code = ILLEGAL_ADDRESS if known else ILLEGAL_FUNCTION
        return ExceptionResponse(function, code, request.dev_id)
    if function in (1, 2):
        bits = ReadCoilsResponse if function == 1 else ReadDiscreteInputsResponse
        return bits(bits=[bool(v) for v in values], dev_id=request.dev_id)
    words = ReadHoldingRegistersResponse if function == 3 else ReadInputRegistersResponse
    return words(registers=values, dev_id=request.dev_id)


def _write_reply(slave: RtuSlave, request: ModbusPDU) -> ModbusPDU:
    address, value = request.address, request.registers[0]
    refused = slave.image.write(address, [value])
    if refused is not None:
        return ExceptionResponse(request.function_code, refused, request.dev_id)
    return WriteSingleRegisterResponse(address=address, registers=[value], dev_id=request.dev_id)


class _ConverterConnection(asyncio.Protocol):
    """One TCP client of the simulated RS-485-to-Ethernet converter."""

    def __init__(self, bus: RtuBus, line: tuple[int, str]) -> None:
        self._bus, self._line = bus, line
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101 - a TCP server's
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer = self._bus.consume(self._buffer + data, self._line, self._send)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def _send(self, frame: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(frame)
