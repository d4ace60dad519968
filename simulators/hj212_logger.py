"""A third-party data logger speaking HJ 212 over TCP, as installed at monitoring stations.

Layer: simulator (asyncio streams over the ``wire.hj212`` codec). It behaves as
a logger does towards a platform: it sends data uploads (real-time 2011, minute
2051, hourly 2061, daily 2031) with the answer bit set, waits for the
platform's ``CN=9014`` carrying the same QN, and sends the same packet again
when no answer comes within ``answer_timeout_s`` (HJ 212's timeout and resend
count, set with CN 1000 on a real logger). Faults to inject: ``lose_answers``
drops that many answers as if the network had lost them, so the logger resends.

It answers the platform's commands as a logger does (``9011 QnRtn=1``, the
values asked for as an upload of the same CN and QN, then ``9012 ExeRtn=1``):
1011 / 1012 read / set its clock (Beijing time, ``SystemTime``), 1061 / 1062
read / set its real-time data interval (``RtdInterval``). A command with
another password is answered ``QnRtn=3``, an unknown one ``QnRtn=8``. Commands
are answered while an upload waits for its answer, and by
:meth:`Hj212Logger.answer_commands` while the logger is otherwise idle.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from simulators.errors import SimulatorError
from wire import Hj212Error
from wire.hj212 import (
    CN_DATA_RESPONSE,
    CN_GET_RTD_INTERVAL,
    CN_GET_TIME,
    CN_REQUEST_RESPONSE,
    CN_SET_RTD_INTERVAL,
    CN_SET_TIME,
    COMMANDS,
    DataItem,
    Edition,
    ExeRtn,
    Packet,
    PeerCipher,
    QnRtn,
    answers,
    data_cp,
    encode_packet,
    execution_result,
    format_system_time,
    next_frame,
    parse_cp,
    parse_packet,
    parse_system_time,
    request_response,
)

BEIJING = timezone(timedelta(hours=8))


class LoggerError(SimulatorError):
    """The platform refused an upload (9011) or never answered it."""


class Hj212Logger:
    """One data logger: an MN, its password, and a TCP connection to a platform."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        mn: str,
        password: str,
        st: str = "22",
        edition: Edition = Edition.HJ212_2017,
        cipher: PeerCipher | None = None,
        answer_timeout_s: float = 5.0,
        retries: int = 3,
    ) -> None:
        self._address = (host, port)
        self.mn, self._password, self._st = mn, password, st
        self.edition, self._cipher = edition, cipher
        self._timeout_s, self._retries = answer_timeout_s, retries
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buffer = b""
        self.lose_answers = 0
        self.sent_packets = 0
        self.rtd_interval_s = 30
        self.on_interval: Callable[[int], None] | None = None  # told of a 1062
        self.clock_offset = timedelta(0)
        self.commands_answered = 0

    async def __aenter__(self) -> Hj212Logger:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        """Open the TCP connection to the platform."""
        self._reader, self._writer = await asyncio.open_connection(*self._address)
        self._buffer = b""

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    def packet(
        self, cn: str, data_time: datetime, items: tuple[DataItem, ...], *, qn: str
    ) -> Packet:
        """The data upload this logger would send (answer required)."""
        return Packet(
            st=self._st,
            cn=cn,
            pw=self._password,
            mn=self.mn,
            cp=data_cp(data_time.strftime("%Y%m%d%H%M%S"), items),
            qn=qn,
            edition=self.edition,
            ack=True,
        )

    async def upload(self, packet: Packet) -> Packet:
        """Send ``packet`` until the platform answers it; return the 9014 answer.

        Raises:
            LoggerError: the platform refused it (9011 with a QnRtn) or never answered.
        """
        data = encode_packet(packet, self._cipher)
        for _ in range(self._retries + 1):
            try:
                await self._send(data)
                async with asyncio.timeout(self._timeout_s):
                    answer = await self._answer_to(packet)
            except TimeoutError:
                continue
            except OSError:  # connection lost or refused: reconnect on the next send
                await self.close()
                continue
            if answer.cn == CN_REQUEST_RESPONSE:
                raise LoggerError(f"platform refused QN {packet.qn}: {answer.cp}")
            return answer
        raise LoggerError(f"no answer to QN {packet.qn} after {self._retries + 1} sends")

    def now(self) -> datetime:
        """The logger's clock: Beijing time, as set by the platform (1012)."""
        return datetime.now(BEIJING).replace(tzinfo=None) + self.clock_offset

    async def answer_commands(self) -> None:
        """Answer the platform's commands until the connection ends (run it as a task)."""
        with contextlib.suppress(ConnectionError, LoggerError):
            while True:
                packet = await self._next_packet()
                if packet.cn.startswith("1"):  # 1xxx: parameter commands
                    await self._answer_command(packet)

    async def _answer_command(self, command: Packet) -> None:
        if command.pw != self._password:
            await self._reply(request_response(command, QnRtn.PW_ERROR))
            return
        if command.cn not in COMMANDS:
            await self._reply(request_response(command, QnRtn.CN_ERROR))
            return
        await self._reply(request_response(command, QnRtn.READY))
        result = ExeRtn.SUCCESS
        try:
            values = dict(parse_cp(command.cp).params)
            if command.cn == CN_SET_TIME:
                wanted = parse_system_time(values["SystemTime"])
                self.clock_offset = wanted - datetime.now(BEIJING).replace(tzinfo=None)
            elif command.cn == CN_SET_RTD_INTERVAL:
                self.rtd_interval_s = int(values["RtdInterval"])
                if self.on_interval is not None:
                    self.on_interval(self.rtd_interval_s)
        except (Hj212Error, KeyError, ValueError):
            result = ExeRtn.BAD_CONDITION
        reading = {
            CN_GET_TIME: f"SystemTime={format_system_time(self.now())}",
            CN_GET_RTD_INTERVAL: f"RtdInterval={self.rtd_interval_s}",
        }.get(command.cn)
        if reading is not None:
            await self._reply(
                Packet(
                    st=self._st,
                    cn=command.cn,
                    pw=self._password,
                    mn=self.mn,
                    cp=reading,
                    qn=command.qn,
                    edition=self.edition,
                )
            )
        await self._reply(execution_result(command, result))
        self.commands_answered += 1

    async def _reply(self, packet: Packet) -> None:
        await self._send(encode_packet(packet, self._cipher))

    async def _send(self, data: bytes) -> None:
        if self._writer is None:
            await self.connect()
        if self._writer is None:
            raise LoggerError("not connected")
        self._writer.write(data)
        await self._writer.drain()
        self.sent_packets += 1

    async def _answer_to(self, request: Packet) -> Packet:
        while True:
            answer = await self._next_packet()
            if answer.cn in COMMANDS:  # the platform asks something meanwhile
                await self._answer_command(answer)
                continue
            if answer.cn not in (CN_DATA_RESPONSE, CN_REQUEST_RESPONSE):
                continue
            if not answers(answer, request):
                continue
            if self.lose_answers > 0:
                self.lose_answers -= 1
                continue
            return answer

    async def _next_packet(self) -> Packet:
        if self._reader is None:
            raise LoggerError("not connected")
        while True:
            used, frame = next_frame(self._buffer)
            if used:
                self._buffer = self._buffer[used:]
                if frame is not None:
                    with contextlib.suppress(Hj212Error):
                        return parse_packet(frame, self._cipher).packet
                continue
            chunk = await self._reader.read(4096)
            if not chunk:
                raise ConnectionResetError("platform closed the connection")
            self._buffer += chunk
