"""``CompactFrames``: one NB-IoT compact frame in, the signed acknowledgement out (or nothing).

Layer: ingest logic shared by the UDP listener, the CoAP server and the MQTT
worker (frames a module publishes, :mod:`cloud.ingest.mqtt_compact`). The gateway
a frame claims picks its secret and channel table; the tag is verified before
anything else is read; the batch settles in the shared pipeline; only then is
the acknowledgement built. A frame that cannot be verified is kept as a dead
letter and gets no acknowledgement (the device resends; a forger learns
nothing). A status frame (:mod:`wire.compact_status`) is verified the same way
and recorded as the gateway's presence, like an ``up/status``; it is not
acknowledged. No SQL here, no socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from cloud.errors import UnknownGatewayError
from cloud.ingest.decode import REVOKED, TOPIC_MISMATCH, UNKNOWN_GATEWAY, Rejected, status_of
from cloud.ingest.decode import Channel as DecodeChannel
from cloud.ingest.outcomes import PRESENCE
from cloud.ingest.pipeline import DEAD_LETTERED, IngestPipeline, Settled
from cloud.ingest.registries import ChannelTables, channel_tables
from cloud.storage import Storage
from wire import WireError
from wire.compact import Channel, CompactAck, decode_compact, encode_compact_ack, frame_gateway
from wire.compact_status import CompactStatus, decode_compact_status, is_status_frame

NO_CHANNEL_TABLE = "no_channel_table"
T = TypeVar("T")
UNBOXED = ("uptime_s", "forged_acks")  # status counters at the top level, not in "outbox"


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
        if is_status_frame(data):  # presence and health: recorded, never acknowledged
            return await self._settle_status(source, data, table, keys.accepted), None
        return await self._settle_batch(source, data, table, keys.accepted)

    async def _settle_batch(
        self, source: str, data: bytes, table: Sequence[Channel], accepted: tuple[bytes, ...]
    ) -> tuple[Settled, bytes | None]:
        """Verify a batch frame, settle the batch, and sign the acknowledgement."""
        # the current secret, then the one before a rotation while its grace runs;
        # the ack is signed with the secret that verified the frame
        verified = _first_verified(lambda secret: decode_compact(data, table, secret), accepted)
        if isinstance(verified, WireError):
            return await self._unverified(source, data, verified), None
        batch, secret = verified
        settled = await self._pipeline.handle_batch(source, batch, data)
        ack = CompactAck(batch.gateway_id, batch.seq, refused=settled.outcome == DEAD_LETTERED)
        return settled, encode_compact_ack(ack, secret)

    async def _settle_status(
        self, source: str, data: bytes, table: Sequence[Channel], accepted: tuple[bytes, ...]
    ) -> Settled:
        """Verify a status frame and record the presence it reports (as an ``up/status``)."""
        verified = _first_verified(
            lambda secret: decode_compact_status(data, table, secret), accepted
        )
        if isinstance(verified, WireError):
            return await self._unverified(source, data, verified)
        status, _ = verified
        gateway = status.gateway_id
        parsed = status_of(DecodeChannel(gateway, "status"), status_body(status))
        if isinstance(parsed, Rejected):
            return await self._pipeline.refuse(source, data, parsed)
        devices = {name: (d.state, d.error) for name, d in parsed.devices.items()}
        try:
            await self._storage.set_presence(gateway, parsed.state, devices, parsed.report)
        except UnknownGatewayError as exc:
            return await self._pipeline.refuse(
                source, data, Rejected(UNKNOWN_GATEWAY, str(exc), gateway)
            )
        return Settled(PRESENCE, gateway)

    async def _unverified(self, source: str, data: bytes, failure: WireError) -> Settled:
        """A frame no accepted secret verifies (or malformed under it): a dead letter."""
        refused = Rejected(failure.reason, failure.message, frame_gateway(data))
        return await self._pipeline.refuse(source, data, refused)


def _first_verified(
    decode: Callable[[bytes], T], accepted: tuple[bytes, ...]
) -> tuple[T, bytes] | WireError:
    """What ``decode`` makes of the frame under the first secret that verifies it, and that
    secret (the current one, then the one before a rotation while its grace runs); else the
    first failure."""
    failure: WireError | None = None
    for secret in accepted:
        try:
            return decode(secret), secret
        except WireError as exc:
            failure = failure or exc
    assert failure is not None  # noqa: S101 - accepted is not empty when usable
    return failure


def status_body(status: CompactStatus) -> dict[str, object]:
    """A status frame's fields as the JSON ``up/status`` body carries them (see edge.status)."""
    counters = dict(status.counters)
    outbox: dict[str, object] = {
        name: counters.pop(name) for name in list(counters) if name not in UNBOXED
    }
    if status.oldest_unsent_age_s is not None:
        outbox["oldest_unsent_age_s"] = status.oldest_unsent_age_s
    body: dict[str, object] = {
        "state": "online" if status.online else "offline",
        "devices": {device: {"state": state} for device, state in status.devices.items()},
        "outbox": outbox,
        **counters,
        "signal": dict(status.signal),
    }
    if status.clock_synced is not None:
        body["clock_synced"] = status.clock_synced
    return body
