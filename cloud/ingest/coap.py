"""``CompactCoapServer``: NB-IoT compact frames POSTed over CoAP, answered after the commit.

Layer: transport (aiocoap). A device (or an operator platform's CoAP relay)
POSTs one compact frame to ``/c``; the frame settles through
:class:`cloud.ingest.compact_frames.CompactFrames`, and the response, sent only
then, is ``2.04 Changed`` carrying the signed acknowledgement (a status frame,
recorded: ``2.04`` without payload). A frame that
cannot be verified gets ``4.00 Bad Request`` with no payload; while the
database is down, ``5.03 Service Unavailable`` (the device resends). No SQL here.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import aiocoap
from aiocoap import resource

from cloud.errors import StorageUnavailableError
from cloud.ingest.compact_frames import CompactFrames
from cloud.ingest.outcomes import PRESENCE
from cloud.ingest.pipeline import IngestPipeline
from cloud.ingest.registries import ChannelTables
from cloud.storage import Storage
from wire.compact import MAX_FRAME_BYTES, Channel

log = logging.getLogger(__name__)

SOURCE = "coap"
PATH = ("c",)


class _FrameResource(resource.Resource):  # type: ignore[misc]
    def __init__(self, frames: CompactFrames) -> None:
        super().__init__()
        self._frames = frames

    async def render_post(self, request: aiocoap.Message) -> aiocoap.Message:
        if len(request.payload) > MAX_FRAME_BYTES:
            return aiocoap.Message(code=aiocoap.REQUEST_ENTITY_TOO_LARGE)
        try:
            settled, ack = await self._frames.settle_frame(SOURCE, bytes(request.payload))
        except StorageUnavailableError as exc:
            log.warning("CoAP frame held back: %s", exc)
            return aiocoap.Message(code=aiocoap.SERVICE_UNAVAILABLE)
        if settled.outcome == PRESENCE:  # a status frame: recorded, nothing to acknowledge
            return aiocoap.Message(code=aiocoap.CHANGED)
        if ack is None:
            return aiocoap.Message(code=aiocoap.BAD_REQUEST)
        return aiocoap.Message(code=aiocoap.CHANGED, payload=ack)


class CompactCoapServer:
    """CoAP (UDP) endpoint ``coap://host:port/c`` for compact frames.

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
        port: int = 5683,
    ) -> None:
        self._frames = CompactFrames(pipeline, storage, tables)
        self.host, self.port = host, port
        self._context: aiocoap.Context | None = None

    async def start(self) -> None:
        """Bind and serve."""
        site = resource.Site()
        site.add_resource(PATH, _FrameResource(self._frames))
        self._context = await aiocoap.Context.create_server_context(
            site, bind=(self.host, self.port)
        )

    async def stop(self) -> None:
        """Stop serving."""
        if self._context is not None:
            await self._context.shutdown()
            self._context = None
