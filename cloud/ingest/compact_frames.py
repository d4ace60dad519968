"""``CompactFrames``: one NB-IoT compact frame in, the signed acknowledgement out (or nothing).

Layer: ingest logic shared by the UDP listener and the CoAP server. The gateway
a frame claims picks its secret and channel table; the tag is verified before
anything else is read; the batch settles in the shared pipeline; only then is
the acknowledgement built. A frame that cannot be verified is kept as a dead
letter and gets no acknowledgement (the device resends; a forger learns
nothing). No SQL here, no socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloud.ingest.decode import UNKNOWN_GATEWAY, Rejected
from cloud.ingest.pipeline import DEAD_LETTERED, IngestPipeline
from cloud.storage import Storage
from wire import WireError
from wire.compact import Channel, CompactAck, decode_compact, encode_compact_ack, frame_gateway

NO_CHANNEL_TABLE = "no_channel_table"


class CompactFrames:
    """Settles compact frames; see the module docstring.

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
    ) -> None:
        self._pipeline, self._storage = pipeline, storage
        self._tables = {gw: tuple(table) for gw, table in tables.items()}

    async def settle(self, source: str, data: bytes) -> bytes | None:
        """Store or refuse one frame; return the acknowledgement to send, or None.

        Raises:
            StorageUnavailableError: the database is down; nothing was settled.
        """
        try:
            gateway = frame_gateway(data)
        except WireError as exc:
            await self._pipeline.refuse(source, data, Rejected(exc.reason, exc.message, None))
            return None
        secret = await self._storage.gateway_secret(gateway)
        table = self._tables.get(gateway)
        if secret is None or table is None:
            reason = UNKNOWN_GATEWAY if secret is None else NO_CHANNEL_TABLE
            await self._pipeline.refuse(source, data, Rejected(reason, gateway, gateway))
            return None
        try:
            batch = decode_compact(data, table, secret)
        except WireError as exc:
            await self._pipeline.refuse(source, data, Rejected(exc.reason, exc.message, gateway))
            return None
        settled = await self._pipeline.handle_batch(source, batch, data)
        ack = CompactAck(gateway, batch.seq, refused=settled.outcome == DEAD_LETTERED)
        return encode_compact_ack(ack, secret)
