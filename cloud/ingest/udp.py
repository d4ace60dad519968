"""``CompactUdpListener``: NB-IoT compact frames over UDP, acknowledged after the commit.

Layer: transport (asyncio datagrams). Each datagram is one compact frame
(:mod:`wire.compact`), settled by :class:`cloud.ingest.compact_frames.CompactFrames`;
only then is the signed acknowledgement sent back to the address it came
from, so the device frees its outbox only for what is committed or deliberately
refused. A frame that cannot be verified gets no answer. No SQL here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from cloud.errors import StorageUnavailableError
from cloud.ingest.compact_frames import CompactFrames
from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.registries import ChannelTables
from cloud.storage import Storage
from wire.compact import Channel

log = logging.getLogger(__name__)

SOURCE = "udp"


class CompactUdpListener(asyncio.DatagramProtocol):
    """Listens for compact frames; see the module docstring.

    Args:
        pipeline: the shared ingest pipeline.
        storage: where gateway secrets are looked up.
        tables: each gateway's channel table (the database's, or a fixed mapping).
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        storage: Storage,
        tables: ChannelTables | Mapping[str, Sequence[Channel]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._frames = CompactFrames(pipeline, storage, tables)
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
            reply = await self._frames.settle(SOURCE, data)
        except StorageUnavailableError as exc:  # the device resends; nothing is acknowledged
            log.warning("UDP frame from %s held back: %s", addr, exc)
            return
        if reply is not None and self._transport is not None:
            self._transport.sendto(reply, addr)
