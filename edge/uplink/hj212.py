"""``Hj212Sender``: a batch to an authority's HJ 212 platform over TCP, until it answers.

Layer: uplink (asyncio streams over the ``wire.hj212`` codec). The gateway acts
as the station's data logger towards the platform: each instant of a batch
becomes one real-time upload (CN 2011, ``-Rtd`` and ``-Flag`` per factor; split
into PNUM/PNO parts when long), sent with the answer bit set, in the peer's
edition (2017, or 2025 with its SM4 key). The outbox keeps the batch until
:meth:`Hj212Sender.deliver` returns, which it does only when the platform has
answered every packet with ``CN=9014``; a missing answer is waited for
``answer_timeout_s`` and the same packet (same QN) sent again, over a new
connection if the old one broke. Readings of quantities without an HJ 212
factor code (``quantities.yaml``) are not sent to the platform. QN is the
instant of the readings (local time, ms), so a resent packet keeps its QN; a
second packet of an instant already used gets the next free millisecond
(:mod:`edge.uplink.hj212_qn`), so no two packets share a QN.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone

from device_profiles import Quantity, load_quantities
from edge.errors import UplinkError
from edge.uplink.base import (
    NotConnectedError,
    PublishError,
    SettledCallback,
    StateCallback,
    StatusSource,
    Uplink,
)
from edge.uplink.hj212_qn import QnAllocator
from wire import Batch, Hj212Error, Reading, WireError, decode_batch
from wire.ack import Ack, Refusal
from wire.hj212 import (
    CN_DATA_RESPONSE,
    CN_REALTIME,
    CN_REQUEST_RESPONSE,
    Cp,
    DataItem,
    Edition,
    Packet,
    PeerCipher,
    answers,
    encode_packet,
    next_frame,
    parse_packet,
    split_upload,
)

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))


class PlatformRefusedError(UplinkError):
    """The platform answered 9011 with a refusal (wrong password, MN, CRC ...)."""


class Hj212Sender:
    """One station (MN, password) towards one platform (host, port).

    Args:
        st: the system code of the station (22 ambient air, 21 surface water ...).
        tz: the local time the platform expects in QN and DataTime.
    """

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
        answer_timeout_s: float = 10.0,
        attempts: int = 3,
        tz: timezone = BEIJING,
        quantities: Mapping[str, Quantity] | None = None,
    ) -> None:
        self._address = (host, port)
        self._mn, self._password, self._st = mn, password, st
        self._edition, self._cipher = edition, cipher
        self._timeout_s, self._attempts, self._tz = answer_timeout_s, attempts, tz
        vocabulary = load_quantities() if quantities is None else quantities
        self._codes = {code: q.hj212 for code, q in vocabulary.items() if q.hj212}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buffer = b""
        self._qns = QnAllocator()
        self.sends = 0

    def packets(self, batch: Batch) -> list[Packet]:
        """The uploads that carry ``batch``: one per instant (parts if long)."""
        by_time: dict[int, list[Reading]] = {}
        for reading in batch.readings:
            if reading.quantity in self._codes:
                by_time.setdefault(reading.time_ms, []).append(reading)
        packets: list[Packet] = []
        for time_ms, readings in sorted(by_time.items()):
            local = datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(self._tz)
            qn_ms = self._qns.qn_ms(batch.seq, time_ms)  # the instant, unless already used
            qn_local = datetime.fromtimestamp(qn_ms / 1000, UTC).astimezone(self._tz)
            header = Packet(
                st=self._st,
                cn=CN_REALTIME,
                pw=self._password,
                mn=self._mn,
                qn=f"{qn_local:%Y%m%d%H%M%S}{qn_ms % 1000:03d}",  # same on resend
                edition=self._edition,
                ack=True,
            )
            cp = Cp((("DataTime", f"{local:%Y%m%d%H%M%S}"),), self._items(readings))
            packets.extend(split_upload(header, cp))
        return packets

    async def deliver(self, batch: Batch) -> None:
        """Send every packet of ``batch`` until the platform answers each with 9014.

        Raises:
            UplinkError: the platform refused a packet (9011) or never answered it.
        """
        try:
            for packet in self.packets(batch):
                await self._deliver_packet(packet)
        except PlatformRefusedError:
            self._qns.delivered(batch.seq)  # settled as refused: never resent
            raise
        self._qns.delivered(batch.seq)

    async def close(self) -> None:
        """Close the connection to the platform."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def _deliver_packet(self, packet: Packet) -> None:
        data = encode_packet(packet, self._cipher)
        for attempt in range(1, self._attempts + 1):
            try:
                await self._send(data)
                async with asyncio.timeout(self._timeout_s):
                    answer = await self._answer_to(packet)
            except TimeoutError:
                log.info("HJ 212 QN %s: no answer (attempt %d)", packet.qn, attempt)
                continue
            except OSError as exc:
                log.info("HJ 212 QN %s: connection lost (try %d): %s", packet.qn, attempt, exc)
                await self.close()
                continue
            if answer.cn == CN_REQUEST_RESPONSE:
                raise PlatformRefusedError(f"HJ 212 platform refused QN {packet.qn}: {answer.cp}")
            return
        raise UplinkError(f"HJ 212 QN {packet.qn}: no answer after {self._attempts} sends")

    def _items(self, readings: list[Reading]) -> tuple[DataItem, ...]:
        items: dict[str, DataItem] = {}
        for reading in readings:
            code = self._codes[reading.quantity]
            if code in items:
                log.info("HJ 212: %s given twice at one instant; sending the first", code)
                continue
            value = f"{reading.value:.6f}".rstrip("0").rstrip(".")
            items[code] = DataItem(code, (("Rtd", value), ("Flag", reading.quality.value)))
        return tuple(items.values())

    async def _send(self, data: bytes) -> None:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(*self._address)
            self._buffer = b""
        self._writer.write(data)
        await self._writer.drain()
        self.sends += 1

    async def _answer_to(self, request: Packet) -> Packet:
        while True:
            answer = await self._next_packet()
            is_answer = answer.cn in (CN_DATA_RESPONSE, CN_REQUEST_RESPONSE)
            if is_answer and answers(answer, request):
                return answer

    async def _next_packet(self) -> Packet:
        while True:
            used, frame = next_frame(self._buffer)
            if used:
                self._buffer = self._buffer[used:]
                if frame is not None:
                    with contextlib.suppress(Hj212Error):
                        return parse_packet(frame, self._cipher).packet
                continue
            if self._reader is None:
                raise ConnectionResetError("not connected")
            chunk = await self._reader.read(4096)
            if not chunk:
                raise ConnectionResetError("platform closed the connection")
            self._buffer += chunk


class Hj212Uplink(Uplink):
    """The agent's :class:`edge.uplink.base.Uplink` towards an HJ 212 platform.

    One batch in flight; it is settled when the platform has answered every
    packet with 9014 (the platform's response is its confirmation), refused when
    the platform refuses a packet (9011), and left unsettled, with the link
    reported down, when no answer comes: the agent re-sends on reconnect.
    """

    def __init__(self, sender: Hj212Sender, gateway_id: str, *, retry_s: float = 30.0) -> None:
        self._sender, self._gateway_id, self._retry_s = sender, gateway_id, retry_s
        self._connected = False
        self._busy = False
        self._queue: asyncio.Queue[tuple[int, Batch]] = asyncio.Queue(maxsize=1)
        self._worker: asyncio.Task[None] | None = None
        self._on_settled: SettledCallback = lambda _ack: None
        self._on_state: StateCallback = lambda _up: None

    @property
    def connected(self) -> bool:
        """Whether the last exchange with the platform succeeded."""
        return self._connected

    def room(self) -> int:
        """1 when connected and idle, else 0."""
        return int(self._connected and not self._busy and self._queue.empty())

    async def open(
        self,
        on_settled: SettledCallback,
        on_state: StateCallback,
        status: StatusSource | None = None,
    ) -> None:
        """Start the worker; the link is reported up at once (TCP connects on first send)."""
        self._on_settled, self._on_state = on_settled, on_state
        self._worker = asyncio.get_running_loop().create_task(self._run())
        self._set_state(True)

    def send(self, seq: int, body: bytes) -> int:
        """Queue batch ``seq``; see :class:`Uplink`."""
        if not self._connected:
            raise NotConnectedError("HJ 212 platform not reachable")
        try:
            batch = decode_batch(body)
        except WireError as exc:
            raise PublishError(f"batch {seq} cannot be read: {exc}") from exc
        try:
            self._queue.put_nowait((seq, batch))
        except asyncio.QueueFull:
            raise PublishError("HJ 212 uplink has a batch on its way already") from None
        return len(body)

    async def close(self, timeout_s: float) -> None:
        """Stop the worker and close the connection."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._worker, timeout_s)
            self._worker = None
        await self._sender.close()

    async def _run(self) -> None:
        while True:
            seq, batch = await self._queue.get()
            self._busy = True
            try:
                await self._sender.deliver(batch)
            except PlatformRefusedError as exc:
                refusal = Refusal(seq, "refused_by_platform", bytes(8))
                log.warning("HJ 212 batch %d refused: %s", seq, exc)
                self._on_settled(Ack(self._gateway_id, refused=(refusal,)))
            except UplinkError as exc:
                log.warning(
                    "HJ 212 batch %d unanswered, retry in %s s: %s", seq, self._retry_s, exc
                )
                self._busy = False
                self._set_state(False)
                await asyncio.sleep(self._retry_s)  # the platform's pace, not a race
                self._set_state(True)  # the agent re-sends what is unsettled
                continue
            else:
                self._on_settled(Ack(self._gateway_id, committed=(seq,)))
            self._busy = False
            self._set_state(True)

    def _set_state(self, connected: bool) -> None:
        self._connected = connected
        self._on_state(connected)
