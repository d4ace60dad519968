"""``IngestPipeline``: one message in, settled out: verify -> validate -> dedupe -> write.

Layer: ingest logic, independent of the transport. A transport (the MQTT worker
in :mod:`cloud.ingest.mqtt`; HTTP or CoAP later) hands each message over as
``(topic, payload)`` and acknowledges it to its sender only once
:meth:`IngestPipeline.handle` has returned a :class:`Settled`: the batch was
committed, recognised as a replay, recorded as presence, or kept as a dead
letter. The steps:

1. route by topic: ``up/status`` is presence, ``up/telemetry`` is a batch,
   other ``up/`` channels are refused as ``unsupported_topic``;
2. verify: parse the envelope and check its HMAC against the gateway's secret
   (:mod:`cloud.ingest.decode`, pure);
3. validate: flag implausible readings against the vocabulary;
4. dedupe and write: :meth:`cloud.storage.Storage.store_batch` is idempotent on
   (gateway, seq) and on (series, time).

A refusal at any step becomes a dead letter with its reason. While the database
is unavailable, each step is retried with back-off (one log line when failing
starts, one on recovery) and nothing is settled; :meth:`stop` ends the waiting
with :class:`StoppingError` so the transport leaves the message unacknowledged.
No SQL here, and no MQTT client. A transport that authenticates its peers itself
(the HJ 212 server) hands over a batch with :meth:`IngestPipeline.handle_batch`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from cloud.errors import (
    SeqReusedError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.ingest.decode import (
    STATUS,
    TELEMETRY,
    UNKNOWN_GATEWAY,
    UNSUPPORTED_TOPIC,
    Channel,
    Rejected,
    channel_of,
    flag_implausible,
    open_message,
    parse_status,
    verify_message,
)
from cloud.storage import Storage
from device_profiles import Quantity, load_quantities
from wire import Batch

log = logging.getLogger(__name__)

T = TypeVar("T")

UNKNOWN_QUANTITY = "unknown_quantity"
SEQ_REUSED = "seq_reused"
INTERNAL_ERROR = "internal_error"
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0

STORED = "stored"
DUPLICATE = "duplicate"
PRESENCE = "presence"
DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one message; the transport may acknowledge it now.

    Attributes:
        outcome: ``stored``, ``duplicate``, ``presence`` or ``dead_lettered``.
        gateway_id: the gateway the message belongs to (claimed, for a dead letter),
            when known.
        seq: the batch's sequence number, for ``stored`` and ``duplicate``.
        readings_stored: readings written by a ``stored`` batch.
        rejected: the reason and detail of a ``dead_lettered`` message.
    """

    outcome: str
    gateway_id: str | None = None
    seq: int | None = None
    readings_stored: int = 0
    rejected: Rejected | None = None


class CommitObserver(Protocol):
    """Told of what was committed, after the commit (the alarm engine); must not block."""

    def batch_committed(self, batch: Batch) -> None:
        """A batch was stored (not a replay)."""

    def status_committed(self, gateway_id: str, online: bool) -> None:
        """A gateway's presence was recorded."""


class StoppingError(Exception):
    """The pipeline is stopping while waiting to retry: leave the message unacknowledged."""


class IngestPipeline:
    """Settle messages from any transport into storage; see the module docstring.

    Args:
        storage: an open :class:`Storage`; the pipeline does not close it.
        topic_root: prefix of the gateways' topics, ``shanshui/v1`` in production.
        quantities: the vocabulary, for plausibility flags; defaults to ``quantities.yaml``.
        observer: told of each committed batch and presence (alarm evaluation).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        topic_root: str = "shanshui/v1",
        quantities: Mapping[str, Quantity] | None = None,
        observer: CommitObserver | None = None,
    ) -> None:
        self._storage = storage
        self._observer = observer
        self._topic_root = topic_root
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._stopping = asyncio.Event()

    @property
    def topic_root(self) -> str:
        """Prefix of the topics this pipeline accepts."""
        return self._topic_root

    def stop(self) -> None:
        """Cut short every back-off in progress: :meth:`handle` raises :class:`StoppingError`."""
        self._stopping.set()

    async def handle(self, topic: str, payload: bytes) -> Settled:
        """Settle one message: store it, record it, or keep it as a dead letter.

        Raises:
            StoppingError: :meth:`stop` was called while the database was unavailable.
            StorageError: keeping the dead letter itself failed; the message is not settled.
        """
        try:
            settled = await self._decide(topic, payload)
        except StoppingError:
            raise
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception("unexpected error handling a message on %s", topic)
            settled = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", None)
        if isinstance(settled, Rejected):
            return await self._dead_letter(topic, payload, settled)
        return settled

    async def handle_batch(self, source: str, batch: Batch, payload: bytes) -> Settled:
        """Settle a batch its transport has already authenticated (HJ 212, NB-IoT frames).

        Validate -> dedupe -> write, as for a verified MQTT batch; a refusal becomes
        a dead letter holding ``payload``, the bytes as they arrived.

        Raises:
            StoppingError: :meth:`stop` was called while the database was unavailable.
        """
        try:
            settled = await self._store(source, flag_implausible(batch, self._quantities))
        except StoppingError:
            raise
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception("unexpected error handling a batch from %s", source)
            settled = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", batch.gateway_id)
        if isinstance(settled, Rejected):
            return await self._dead_letter(source, payload, settled)
        return settled

    async def refuse(self, source: str, payload: bytes, rejected: Rejected) -> Settled:
        """Keep a message its transport refused (bad password, CRC ...) as a dead letter.

        Raises:
            StoppingError: :meth:`stop` was called while the database was unavailable.
        """
        return await self._dead_letter(source, payload, rejected)

    async def _decide(self, topic: str, payload: bytes) -> Settled | Rejected:
        channel = channel_of(self._topic_root, topic)
        if channel is not None and channel.name == STATUS:
            return await self._presence(channel, payload)
        if channel is not None and channel.name != TELEMETRY:
            detail = f"up/{channel.name} is not handled by this cloud (yet)"
            return Rejected(UNSUPPORTED_TOPIC, detail, channel.gateway_id)
        opened = open_message(self._topic_root, topic, payload)
        if isinstance(opened, Rejected):
            return opened
        gateway_id = opened.gateway_id
        secret = await self._retrying(lambda: self._storage.gateway_secret(gateway_id))
        verified = verify_message(opened, secret)
        if isinstance(verified, Rejected):
            return verified
        return await self._store(topic, flag_implausible(verified, self._quantities))

    async def _presence(self, channel: Channel, payload: bytes) -> Settled | Rejected:
        status = parse_status(channel, payload)
        if isinstance(status, Rejected):
            return status
        gateway_id = channel.gateway_id
        devices = {name: (d.state, d.error) for name, d in status.devices.items()}
        try:
            await self._retrying(
                lambda: self._storage.set_presence(gateway_id, status.state, devices)
            )
        except UnknownGatewayError as exc:
            return Rejected(UNKNOWN_GATEWAY, str(exc), gateway_id)
        if self._observer is not None:
            self._observer.status_committed(gateway_id, status.state == "online")
        return Settled(PRESENCE, gateway_id)

    async def _store(self, source: str, batch: Batch) -> Settled | Rejected:
        try:
            result = await self._retrying(lambda: self._storage.store_batch(batch, source))
        except UnknownQuantityError as exc:
            return Rejected(UNKNOWN_QUANTITY, str(exc), batch.gateway_id)
        except SeqReusedError as exc:
            return Rejected(SEQ_REUSED, str(exc), batch.gateway_id)
        except UnknownGatewayError as exc:
            return Rejected(UNKNOWN_GATEWAY, str(exc), batch.gateway_id)
        if result.duplicate:
            return Settled(DUPLICATE, batch.gateway_id, batch.seq)
        if self._observer is not None:
            self._observer.batch_committed(batch)
        return Settled(STORED, batch.gateway_id, batch.seq, readings_stored=result.stored)

    async def _dead_letter(self, source: str, payload: bytes, rejected: Rejected) -> Settled:
        log.info("dead-lettered a message on %s: %s (%s)", source, rejected.reason, rejected.detail)
        await self._retrying(
            lambda: self._storage.dead_letter(
                source=source,
                reason=rejected.reason,
                detail=rejected.detail,
                payload=payload,
                gateway_id=rejected.gateway_id,
            )
        )
        return Settled(DEAD_LETTERED, rejected.gateway_id, rejected=rejected)

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run ``operation`` until the database answers; back off while it is unavailable."""
        delay_s = _RETRY_FIRST_S
        failing = False
        while True:
            try:
                result = await operation()
            except StorageUnavailableError as exc:
                if not failing:
                    log.warning("database unavailable, holding the message: %s", exc)
                    failing = True
            else:
                if failing:
                    log.info("database reachable again")
                return result
            try:
                # Backoff, cut short by stop(): waiting on the event is the retry delay.
                async with asyncio.timeout(delay_s):
                    await self._stopping.wait()
            except TimeoutError:
                delay_s = min(delay_s * 2, _RETRY_MAX_S)
                continue
            raise StoppingError
