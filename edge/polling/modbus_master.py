"""The Modbus master of one bus: one transaction at a time, with the line's silences.

Layer: asyncio; composes a byte :class:`~edge.polling.transports.Link` with a
:class:`~edge.polling.modbus_frames.FrameCodec`. It owns bus discipline:

* strictly one outstanding request (an ``asyncio.Lock``, so even a technician's
  command sharing the bus waits its turn);
* before a request, the line must have been quiet for the inter-frame gap (t3.5
  on RTU) plus the configured turnaround delay, measured from the last byte
  sent or received;
* the reply timeout starts when the request has left the wire (its bytes take
  ``len * char_s`` on a serial line);
* bytes that arrive outside a transaction are a late reply to the previous
  one: dropped before the next request and counted for the slave that was late.

Failures are typed (:mod:`edge.errors`): ``LinkError``, ``NoAnswerError``,
``BadFrameError`` (``crc``/``garbage``) and ``ExceptionResponseError``. It
does not retry (the poller decides) and does not log.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    WriteMultipleRegistersResponse,
    WriteSingleRegisterResponse,
)

from edge.errors import BadFrameError, ExceptionResponseError, LinkError, NoAnswerError
from edge.polling.modbus_frames import (
    FrameCodec,
    FrameError,
    Reply,
    read_request,
    read_values,
    write_request,
)
from edge.polling.transports.base import Link

EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


@dataclass(frozen=True, slots=True)
class LineTiming:
    """Silences a bus needs: zero on Modbus TCP, t3.5 and a turnaround on RS-485."""

    char_s: float = 0.0
    gap_s: float = 0.0
    turnaround_s: float = 0.0


class ModbusMaster:
    """Serialised Modbus transactions over one link."""

    def __init__(
        self,
        link: Link,
        codec: FrameCodec,
        timing: LineTiming = LineTiming(),
        *,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """Wrap ``link``; it opens on the first transaction.

        Args:
            link: the byte link (serial port or TCP).
            codec: the framing (``rtu`` or ``tcp``).
            timing: silences to keep between frames.
            clock_s: monotonic clock.
        """
        self.link = link
        self.codec = codec
        self.timing = timing
        self._clock_s = clock_s
        self._lock = asyncio.Lock()
        self._quiet_since_s = 0.0
        self._tid = 0
        self._last_slave: int | None = None
        self._expect_late = False
        self.late_replies: Counter[int] = Counter()
        self.transactions = 0

    @property
    def description(self) -> str:
        """Where the bus is (port and settings, or host:port)."""
        return self.link.description

    async def read(
        self, slave: int, function_code: int, start: int, count: int, timeout_s: float
    ) -> list[int]:
        """Read ``count`` registers (or bits, 0/1, for FC01/02) from ``start``.

        Raises:
            LinkError, NoAnswerError, BadFrameError, ExceptionResponseError.
        """
        reply = await self.transact(read_request(function_code, start, count), slave, timeout_s)
        registers = read_values(reply, count)
        if len(registers) != count:
            raise BadFrameError(
                f"asked for {count} registers at {start}, got {len(registers)}", "garbage"
            )
        return registers

    async def write_register(
        self, slave: int, address: int, value: int, timeout_s: float, function_code: int = 6
    ) -> None:
        """Write one holding register (FC06, or FC16) and check the echo.

        Raises:
            LinkError, NoAnswerError, BadFrameError, ExceptionResponseError.
        """
        request = write_request(address, value, function_code)
        reply = await self.transact(request, slave, timeout_s)
        pdu = reply.pdu
        echoes = (WriteSingleRegisterResponse, WriteMultipleRegistersResponse)
        if not isinstance(pdu, echoes) or pdu.address != address:
            raise BadFrameError(f"write of register {address}: unexpected echo {pdu}", "garbage")

    async def transact(self, request: ModbusPDU, slave: int, timeout_s: float) -> Reply:
        """Send ``request`` to ``slave`` and return its reply (exceptions raised as errors)."""
        async with self._lock:
            await self.link.open()
            self._drop_late_bytes()
            await self._wait_for_quiet()
            self._tid = self._tid % 0xFFFF + 1
            frame = self.codec.request(request, slave, self._tid)
            self._last_slave = slave
            self.transactions += 1
            self.link.write(frame)
            sent_s = self._clock_s() + len(frame) * self.timing.char_s
            self._quiet_since_s = sent_s
            try:
                reply = await self._receive(request, slave, sent_s + timeout_s)
            except NoAnswerError:
                self._expect_late = True
                raise
            except (BadFrameError, LinkError):
                self._expect_late = False
                raise
            self._expect_late = False
        code = reply.exception_code
        if code is not None:
            name = EXCEPTION_NAMES.get(code, "unknown exception")
            raise ExceptionResponseError(f"Modbus exception {code:#04x} ({name})", code)
        return reply

    def close(self) -> None:
        """Close the link; the next transaction reopens it."""
        self.link.close()

    async def _receive(self, request: ModbusPDU, slave: int, deadline_s: float) -> Reply:
        buffer = b""
        while True:
            chunk = await self.link.read(max(0.0, deadline_s - self._clock_s()))
            if not chunk:
                break
            self._quiet_since_s = self.link.last_arrival_s or self._clock_s()
            buffer += chunk
            while buffer:
                try:
                    used, reply = self.codec.parse(buffer)
                except FrameError as exc:
                    raise BadFrameError(str(exc), exc.kind) from exc
                if reply is None:
                    break
                buffer = buffer[used:]
                if self._is_answer(reply, request, slave):
                    return reply
                # another slave's (or an earlier transaction's) late answer
                self.late_replies[reply.slave] += 1
        if buffer:
            # bytes that never became a frame (noise, a cut-off reply, a corrupted length)
            raise BadFrameError(f"unusable reply {buffer[:32].hex(' ')}", "garbage")
        raise NoAnswerError(f"slave {slave}: no response (timeout)")

    def _is_answer(self, reply: Reply, request: ModbusPDU, slave: int) -> bool:
        if reply.slave != slave:
            return False
        if self.codec.framing == "tcp" and reply.tid != self._tid:
            return False
        return (reply.pdu.function_code & 0x7F) == request.function_code

    def _drop_late_bytes(self) -> None:
        stale = self.link.take_pending()
        if stale and self._expect_late and self._last_slave is not None:
            self.late_replies[self._last_slave] += 1
        if stale:
            self._quiet_since_s = self.link.last_arrival_s or self._clock_s()
        self._expect_late = False

    async def _wait_for_quiet(self) -> None:
        ready_s = self._quiet_since_s + self.timing.gap_s + self.timing.turnaround_s
        delay_s = ready_s - self._clock_s()
        if delay_s > 0:
            # the line's mandated silence (t3.5 + turnaround), not a race workaround
            await asyncio.sleep(delay_s)
