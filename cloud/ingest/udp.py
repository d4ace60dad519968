"""``CompactUdpListener``: NB-IoT compact frames over UDP, acknowledged after the commit.

Layer: transport (asyncio datagrams). Each datagram is one compact frame
(:mod:`wire.compact`): the gateway it claims picks the secret and the channel
table; the tag is verified before anything else is read; the batch settles in
the shared pipeline (:meth:`IngestPipeline.handle_batch`), and only then is a
signed acknowledgement sent back to the address it came from, so the device
frees its outbox only for what is committed or deliberately refused. A frame
that cannot be verified gets no answer (the device will resend, an attacker
learns nothing) and is kept as a dead letter. No SQL here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from cloud.errors import StorageUnavailableError
from cloud.ingest.decode import UNKNOWN_GATEWAY, Rejected
from cloud.ingest.pipeline import DEAD_LETTERED, IngestPipeline
from cloud.storage import Storage
from wire import WireError
from wire.compact import (
    Channel,
    CompactAck,
    decode_compact,
    encode_compact_ack,
    frame_gateway,
)

log = logging.getLogger(__name__)

SOURCE = "udp"
NO_CHANNEL_TABLE = "no_channel_table"


class CompactUdpListener(asyncio.DatagramProtocol):
    """Listens for compact frames; see the module docstring.

    Args:
        pipeline: the shared ingest pipeline.
        storage: where gateway secrets are looked up.
        tables: each gateway's channel table (from its configuration).
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        storage: Storage,
        tables: Mapping[str, Sequence[Channel]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._pipeline, self._storage = pipeline, storage
        self._tables = {gw: tuple(table) for gw, table in tables.items()}
        self._address = (host, port)
        self._transport: asyncio.DatagramTransport | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The UDP port listened on (after :meth:`start`)."""
        if self._transport is None:
            raise RuntimeError("listener not started")
        port: int = self._transport.get_extra_info("sockname")[1]
        return port

    async def start(self) -> None:
        """Bind the UDP socket."""
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=self._address
        )

    async def stop(self) -> None:
        """Finish the datagrams in hand, then close."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        """One frame arrived: settle it in a task of its own."""
        task = asyncio.get_running_loop().create_task(self._settle(data, addr))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            reply = await self._decide(data)
        except StorageUnavailableError as exc:  # the device resends; nothing is acknowledged
            log.warning("UDP frame from %s held back: %s", addr, exc)
            return
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)

    async def _decide(self, data: bytes) -> bytes | None:
        try:
            gateway = frame_gateway(data)
        except WireError as exc:
            await self._pipeline.refuse(SOURCE, data, Rejected(exc.reason, exc.message, None))
            return None
        secret = await self._storage.gateway_secret(gateway)
        table = self._tables.get(gateway)
        if secret is None or table is None:
            reason = UNKNOWN_GATEWAY if secret is None else NO_CHANNEL_TABLE
            await self._pipeline.refuse(SOURCE, data, Rejected(reason, gateway, gateway))
            return None
        try:
            batch = decode_compact(data, table, secret)
        except WireError as exc:
            await self._pipeline.refuse(SOURCE, data, Rejected(exc.reason, exc.message, gateway))
            return None
        settled = await self._pipeline.handle_batch(SOURCE, batch, data)
        ack = CompactAck(gateway, batch.seq, refused=settled.outcome == DEAD_LETTERED)
        return encode_compact_ack(ack, secret)
