"""``CompactFrames``: one NB-IoT compact frame in, the signed acknowledgement out (or nothing).

Layer: ingest logic shared by the UDP listener, the CoAP server and the MQTT
worker (frames a module publishes, :mod:`cloud.ingest.mqtt_compact`). The gateway
a frame claims picks its secret and channel table; the tag is verified before
anything else is read; the batch settles in the shared pipeline; only then is
the acknowledgement built. A frame that cannot be verified is kept as a dead
letter and gets no acknowledgement (the device resends; a forger learns
nothing). No SQL here, no socket.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cloud.ingest.decode import REVOKED, TOPIC_MISMATCH, UNKNOWN_GATEWAY, Rejected
from cloud.ingest.pipeline import DEAD_LETTERED, IngestPipeline, Settled
from cloud.ingest.registries import ChannelTables, channel_tables
from cloud.storage import Storage
from wire import WireError
from wire.compact import Channel, CompactAck, decode_compact, encode_compact_ack, frame_gateway

NO_CHANNEL_TABLE = "no_channel_table"


class CompactFrames:
    """Settles compact frames; see the module docstring.

    Args:
        pipeline: the shared ingest pipeline.
        storage: where gateway secrets are looked up.
        tables: each gateway's channel table: the database's (:class:`StoredTables`),
            or a fixed mapping.
    """

    def __init__(
        self,
        pipeline: IngestPipeline,
        storage: Storage,
        tables: ChannelTables | Mapping[str, Sequence[Channel]],
    ) -> None:
        self._pipeline, self._storage = pipeline, storage
        self._tables = channel_tables(tables)

    async def settle(self, source: str, data: bytes) -> bytes | None:
        """Store or refuse one frame; return the acknowledgement to send, or None.

        Raises:
            StorageUnavailableError: the database is down; nothing was settled.
        """
        _, ack = await self.settle_frame(source, data)
        return ack

    async def settle_frame(
        self, source: str, data: bytes, claimed: str | None = None
    ) -> tuple[Settled, bytes | None]:
        """Store or refuse one frame; return what became of it and the acknowledgement, if any.

        ``claimed``: the gateway the transport says sent it (an MQTT topic); a frame
        of another gateway is refused as ``topic_mismatch``.

        Raises:
            StorageUnavailableError: the database is down; nothing was settled.
        """
        try:
            gateway = frame_gateway(data)
        except WireError as exc:
            rejected = Rejected(exc.reason, exc.message, claimed)
            return await self._pipeline.refuse(source, data, rejected), None
        if claimed is not None and gateway != claimed:
            detail = f"frame of {gateway!r} on the topic of {claimed!r}"
            return await self._pipeline.refuse(
                source, data, Rejected(TOPIC_MISMATCH, detail, claimed)
            ), None
        keys = await self._storage.gateway_keys(gateway)
        table = await self._tables.table(gateway)
        if keys is not None and keys.revoked:
            return await self._pipeline.refuse(
                source, data, Rejected(REVOKED, gateway, gateway)
            ), None
        if keys is None or not keys.usable or table is None:
            reason = NO_CHANNEL_TABLE if keys is not None and keys.usable else UNKNOWN_GATEWAY
            return await self._pipeline.refuse(
                source, data, Rejected(reason, gateway, gateway)
            ), None
        # the current secret, then the one before a rotation while its grace runs;
        # the ack is signed with the secret that verified the frame
        failure: WireError | None = None
        for secret in keys.accepted:
            try:
                batch = decode_compact(data, table, secret)
                break
            except WireError as exc:
                failure = failure or exc
        else:
            assert failure is not None  # noqa: S101 - accepted is not empty when usable
            refused = Rejected(failure.reason, failure.message, gateway)
            return await self._pipeline.refuse(source, data, refused), None
        settled = await self._pipeline.handle_batch(source, batch, data)
        ack = CompactAck(gateway, batch.seq, refused=settled.outcome == DEAD_LETTERED)
        return settled, encode_compact_ack(ack, secret)
