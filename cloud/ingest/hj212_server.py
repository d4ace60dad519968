"""``Hj212Server``: data loggers connect over TCP, their uploads settle in the pipeline.

Layer: transport (asyncio streams). Frames come out of the byte stream with
:func:`wire.hj212.next_frame`; the logger is known by MN and password
(:class:`cloud.ingest.hj212_readings.Station`); uploads become batches that
:meth:`cloud.ingest.pipeline.IngestPipeline.handle_batch` stores exactly once.
No SQL here.

Answers, as HJ 212 requires, and only once the pipeline has settled the packet
(committed, recognised as a replay, or kept as a dead letter), so that a logger
whose packet was lost, or whose answer was lost, sends it again:

- a data upload with the answer bit set gets ``CN=9014`` with its QN;
- a packet with a bad CRC gets ``CN=9011`` ``QnRtn=9``, a wrong password
  ``QnRtn=3``, an unknown MN ``QnRtn=4``, another edition than the station's
  (read from Flag) ``QnRtn=6``; all are kept as dead letters;
- other commands from a logger (heartbeats) get no answer.

The platform's commands to a connected logger (1011/1012 time, 1061/1062
real-time interval) go through :attr:`Hj212Server.commands`
(:mod:`cloud.ingest.hj212_commands`); the logger's answers to them (9011, the
values, 9012) are routed there by QN, not ingested.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from cloud.errors import StorageUnavailableError
from cloud.ingest.decode import Rejected
from cloud.ingest.hj212_commands import CommandDesk
from cloud.ingest.hj212_readings import (
    BAD_PASSWORD,
    HJ212_CRC,
    HJ212_MALFORMED,
    MEAN_CNS,
    MEANS_NOT_STORED,
    STORED_CNS,
    UNKNOWN_MN,
    WRONG_EDITION,
    Station,
    upload_batch,
)
from cloud.ingest.pipeline import IngestPipeline, Settled
from cloud.ingest.registries import StationLookup, station_lookup
from device_profiles import Quantity, load_quantities
from wire import Hj212Error
from wire.hj212 import (
    CommandExchange,
    Frame,
    Packet,
    PeerCipher,
    QnRtn,
    data_response,
    encode_packet,
    next_frame,
    parse_packet,
    peek_mn,
    request_response,
)

log = logging.getLogger(__name__)

ST_SYSTEM = "91"
SOURCE = "hj212"
READ_BYTES = 4096
MAX_BUFFER = 64 * 1024


class Hj212Server:
    """HJ 212 TCP server for data loggers.

    Args:
        pipeline: the shared ingest pipeline (open storage behind it).
        stations: known loggers: the database's (:class:`StoredStations`, read at every
            packet), or a fixed mapping by MN.
        host, port: where to listen; port 0 picks a free one (see :attr:`port`).
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        stations: StationLookup | Mapping[str, Station],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quantities: Mapping[str, Quantity] | None = None,
    ) -> None:
        self._pipeline = pipeline
        self._stations = station_lookup(stations)
        self._host, self._port = host, port
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.commands = CommandDesk()

    @property
    def port(self) -> int:
        """The TCP port listened on (after :meth:`start`)."""
        if self._server is None:
            raise RuntimeError("server not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        """Listen for loggers."""
        self._server = await asyncio.start_server(self._serve, self._host, self._port)
        log.info("HJ 212 server listening on %s:%d", self._host, self.port)

    async def stop(self) -> None:
        """Stop listening and close every logger's connection."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()  # the connection's read ends, its task returns
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def command(
        self, mn: str, cn: str, value: str | None = None, timeout_s: float = 30.0
    ) -> CommandExchange:
        """Send a command (1011/1012/1061/1062) to a connected logger; see :class:`CommandDesk`.

        Raises:
            CommandError: not connected, malformed, or not answered in time.
        """
        return await self.commands.run(mn, cn, value, timeout_s)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        buffer = b""
        try:
            while chunk := await reader.read(READ_BYTES):
                buffer += chunk
                buffer = await self._drain(buffer, writer)
                if len(buffer) > MAX_BUFFER:
                    log.info("HJ 212 peer %s sends no frames; closing", peer)
                    break
        except ConnectionError:
            pass
        finally:
            self.commands.gone(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._writers.discard(writer)
            if task is not None:
                self._connections.discard(task)

    async def _drain(self, buffer: bytes, writer: asyncio.StreamWriter) -> bytes:
        while True:
            used, frame = next_frame(buffer)
            if used == 0:
                return buffer
            buffer = buffer[used:]
            if frame is None:
                continue
            answer, cipher = await self._settle(frame, writer)
            if answer is not None:
                writer.write(encode_packet(answer, cipher))
                await writer.drain()

    async def _settle(
        self, frame: bytes, writer: asyncio.StreamWriter
    ) -> tuple[Packet | None, PeerCipher | None]:
        try:
            station = await self._stations.station(peek_mn(frame))
            if station is None:
                await self._refuse(frame, Rejected(UNKNOWN_MN, "MN not known", None))
                return _answer_unknown(frame), None
            parsed = parse_packet(frame, station.cipher)
        except StorageUnavailableError as exc:  # no answer: the logger sends it again
            log.warning("HJ 212 packet held back: %s", exc)
            return None, None
        except Hj212Error as exc:
            await self._refuse(frame, Rejected(HJ212_MALFORMED, exc.message, None))
            return None, None
        packet = parsed.packet
        refusal = _refusal(parsed, station)
        if refusal is not None:
            await self._refuse(frame, refusal[0])
            return request_response(packet, refusal[1]), station.cipher
        if packet.st != ST_SYSTEM:
            self.commands.seen(station, packet.st, writer)
        answering = self.commands.route(packet)  # part of the answer to our command
        settled = None if answering else await self._upload(frame, packet, station)
        if settled is None or not packet.ack:
            return None, None
        return data_response(packet), station.cipher

    async def _upload(self, frame: bytes, packet: Packet, station: Station) -> Settled | None:
        if packet.cn in MEAN_CNS:
            detail = f"CN {packet.cn} means are not stored as readings"
            return await self._refuse(frame, Rejected(MEANS_NOT_STORED, detail, station.gateway_id))
        if packet.cn not in STORED_CNS:
            log.debug("HJ 212 %s sent CN %s; no answer", packet.mn, packet.cn)
            return None
        batch = upload_batch(packet, station, self._quantities)
        if isinstance(batch, Rejected):
            return await self._refuse(frame, batch)
        settled = await self._pipeline.handle_batch(SOURCE, batch, frame)
        log.debug("HJ 212 %s QN %s: %s", packet.mn, packet.qn, settled.outcome)
        return settled

    async def _refuse(self, frame: bytes, rejected: Rejected) -> Settled:
        return await self._pipeline.refuse(SOURCE, frame, rejected)


def _refusal(parsed: Frame, station: Station) -> tuple[Rejected, QnRtn] | None:
    """Why a well-framed packet from a known MN is refused, with its QnRtn; None if it is not."""
    packet, gateway = parsed.packet, station.gateway_id
    if not parsed.crc_valid:
        detail = f"CRC {parsed.crc_declared}, computed {parsed.crc_computed}"
        return Rejected(HJ212_CRC, detail, gateway), QnRtn.CRC_ERROR
    if not station.password_matches(packet.pw):
        return Rejected(BAD_PASSWORD, f"MN {packet.mn}", gateway), QnRtn.PW_ERROR
    if packet.edition is not station.edition:  # no downgrade past SM4, no guessing
        detail = f"MN {packet.mn} sent HJ 212-{packet.edition}, expected {station.edition}"
        return Rejected(WRONG_EDITION, detail, gateway), QnRtn.FLAG_ERROR
    return None


def _answer_unknown(frame: bytes) -> Packet | None:
    """A 9011 ``QnRtn=4`` (MN error) when the packet can at least be read."""
    try:
        return request_response(parse_packet(frame).packet, QnRtn.MN_ERROR)
    except Hj212Error:
        return None
