"""``IngestPipeline``: messages in, settled out: verify -> validate -> dedupe -> write.

Layer: ingest logic, independent of the transport. A transport (the MQTT worker
in :mod:`cloud.ingest.mqtt`, HTTP, CoAP, UDP, HJ 212) hands messages over as
``(topic, payload)`` and acknowledges each to its sender only once
:meth:`IngestPipeline.handle` (one message) or :meth:`IngestPipeline.handle_many`
(a group) has returned its :class:`Settled`: the batch was committed, recognised
as a replay, recorded as presence, or kept as a dead letter. The steps:

1. route by topic: ``up/status`` is presence (:mod:`cloud.ingest.status`),
   ``up/telemetry`` is a batch, other ``up/`` channels are refused as
   ``unsupported_topic``;
2. verify: parse the envelope (duplicate JSON keys refused) and check its HMAC
   against the gateway's secret (:mod:`cloud.ingest.decode`, pure);
3. validate: refuse two readings of one series at one time and readings from the
   future; flag implausible readings against the vocabulary;
4. dedupe and write: :meth:`cloud.storage.Storage.store_batches` is idempotent on
   (gateway, seq) and on (series, time). The digest that tells a replay from a
   reused seq is taken over the batch as the gateway sent it, before re-flagging,
   so a vocabulary change or workers of two versions do not turn a replay into
   ``seq_reused``.

Group commit: :meth:`handle_many` takes steps 1-3 for each message, then writes
every batch that passed them in one transaction, and only then returns; a batch
refused on the way or by storage (reused seq, unknown quantity) becomes its own
dead letter and does not hold back the others.

A refusal at any step becomes a dead letter with its reason. While storage fails
(unavailable, or an unexpected error) the call is retried with back-off
(:mod:`cloud.ingest.retrying`) and nothing is settled or acknowledged; :meth:`stop`
ends the waiting with :class:`StoppingError`. No SQL here, and no MQTT client. A
transport that authenticates its peers itself (HJ 212) uses :meth:`handle_batch`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cloud.errors import SeqReusedError, UnknownGatewayError, UnknownQuantityError
from cloud.ingest.batch_log import batch_extra, batch_fields, claimed_seq
from cloud.ingest.decode import (
    STATUS,
    TELEMETRY,
    UNKNOWN_GATEWAY,
    UNSUPPORTED_TOPIC,
    Opened,
    Rejected,
    channel_of,
    check_batch,
    flag_implausible,
    open_message,
    verify_with_keys,
)
from cloud.ingest.housekeeping import prune
from cloud.ingest.outcomes import (
    ANSWER,
    CMD_ACK,
    DEAD_LETTERED,
    DUPLICATE,
    IGNORED,
    INTERNAL_ERROR,
    PRESENCE,
    SEQ_REUSED,
    STORED,
    UNKNOWN_QUANTITY,
    IngestPolicy,
    Pruned,
    Settled,
    StoppingError,
)
from cloud.ingest.retrying import Retrier
from cloud.ingest.status import settle_status
from cloud.metrics import BATCHES_STORED, DEAD_LETTERS, DUPLICATES, READINGS_STORED, WRITE_SECONDS
from cloud.storage import Storage, StoreResult
from cloud.storage.ingest import BatchToStore
from cloud.storage.registry import GatewayKeys
from device_profiles import Quantity, load_quantities
from wire import Batch, WireError, encode_batch, open_envelope

__all__ = [
    "ANSWER",
    "DEAD_LETTERED",
    "DUPLICATE",
    "IGNORED",
    "PRESENCE",
    "STORED",
    "IngestPipeline",
    "IngestPolicy",
    "Settled",
    "StoppingError",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Ready:
    """A verified, validated batch waiting for its group's transaction."""

    batch: BatchToStore  # re-flagged, with the digest of the batch as sent
    secret: bytes | None


_Verdict = Settled | Rejected | _Ready


class IngestPipeline:
    """Settle messages from any transport into storage; see the module docstring.

    Args:
        storage: an open :class:`Storage`; the pipeline does not close it.
        topic_root: prefix of the gateways' topics, ``shanshui/v1`` in production.
        quantities: the vocabulary, for plausibility flags; defaults to ``quantities.yaml``.
        policy: margins and limits; defaults to :class:`IngestPolicy`'s.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        topic_root: str = "shanshui/v1",
        quantities: Mapping[str, Quantity] | None = None,
        policy: IngestPolicy | None = None,
    ) -> None:
        self._storage = storage
        self._topic_root = topic_root
        self._policy = policy or IngestPolicy()
        self._future_margin_ms = int(self._policy.future_margin_s * 1000)
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._retrier = Retrier()

    @property
    def storage(self) -> Storage:
        """The storage the pipeline settles into (the listeners look up secrets there)."""
        return self._storage

    @property
    def policy(self) -> IngestPolicy:
        """The rules this pipeline applies."""
        return self._policy

    @property
    def topic_root(self) -> str:
        """Prefix of the topics this pipeline accepts."""
        return self._topic_root

    async def prune(self, now: datetime | None = None) -> Pruned:
        """Delete what the policy no longer keeps (:func:`cloud.ingest.housekeeping.prune`)."""
        return await prune(self._storage, self._policy, now)

    def stop(self) -> None:
        """Cut short every back-off in progress: :meth:`handle` raises :class:`StoppingError`."""
        self._retrier.stop()

    async def handle(self, topic: str, payload: bytes, received_ms: int | None = None) -> Settled:
        """Settle one message: store it, record it, or keep it as a dead letter.

        Args:
            topic: where it was published (MQTT) or the equivalent for other transports.
            payload: the message as received.
            received_ms: when it arrived, epoch milliseconds; default now.

        Raises:
            StoppingError: :meth:`stop` was called while storage was failing.
        """
        (settled,) = await self.handle_many([(topic, payload)], received_ms)
        return settled

    async def handle_many(
        self, messages: Sequence[tuple[str, bytes]], received_ms: int | None = None
    ) -> list[Settled]:
        """Settle a group of messages, their batches written in one transaction.

        Returns:
            One :class:`Settled` per message, in order, once all of them are settled.

        Raises:
            StoppingError: :meth:`stop` was called while storage was failing; none of
                the group is to be acknowledged.
        """
        arrived_ms = _now_ms() if received_ms is None else received_ms
        keys: dict[str, GatewayKeys | None] = {}  # looked up once per gateway and group
        verdicts: list[_Verdict] = []
        for topic, payload in messages:
            try:
                verdicts.append(await self._decide(topic, payload, arrived_ms, keys))
            except StoppingError:
                raise
            except Exception as exc:  # a bug must not stop ingest: keep the message for later
                log.exception("unexpected error handling a message on %s", topic)
                verdicts.append(Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", None))
        return await self._settle(list(messages), verdicts)

    async def handle_signed(
        self, source: str, payload: bytes, received_ms: int | None = None
    ) -> Settled:
        """Settle a signed envelope that came without a topic (HTTP ingest).

        The gateway is the one the envelope names; its signature proves it.

        Raises:
            StoppingError: :meth:`stop` was called while storage was failing.
        """
        arrived_ms = _now_ms() if received_ms is None else received_ms
        verdict: _Verdict
        try:
            opened = Opened(open_envelope(payload))
        except WireError as exc:
            verdict = Rejected(exc.reason, exc.message, None)
        else:
            try:
                verdict = await self._verify_opened(source, opened, arrived_ms, {})
            except StoppingError:
                raise
            except Exception as exc:  # a bug must not stop ingest: keep the message for later
                log.exception("unexpected error handling a message from %s", source)
                verdict = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", None)
        (settled,) = await self._settle([(source, payload)], [verdict])
        return settled

    async def handle_batch(
        self, source: str, batch: Batch, payload: bytes, received_ms: int | None = None
    ) -> Settled:
        """Settle a batch its transport has already authenticated (HJ 212, NB-IoT frames).

        Validate -> dedupe -> write, as for a verified MQTT batch; a refusal becomes
        a dead letter holding ``payload``, the bytes as they arrived.

        Raises:
            StoppingError: :meth:`stop` was called while the database was unavailable.
        """
        arrived_ms = _now_ms() if received_ms is None else received_ms
        verdict: _Verdict
        try:
            verdict = self._validate(source, batch, arrived_ms, None)
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception(
                "unexpected error handling a batch from %s %s",
                source,
                batch_fields(batch.gateway_id, batch.seq),
                extra=batch_extra(batch.gateway_id, batch.seq),
            )
            verdict = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", batch.gateway_id)
        (settled,) = await self._settle([(source, payload)], [verdict])
        return settled

    async def refuse(self, source: str, payload: bytes, rejected: Rejected) -> Settled:
        """Keep a message its transport refused (bad password, CRC ...) as a dead letter;
        :class:`StoppingError` if :meth:`stop` was called while storage was failing."""
        return await self._dead_letter(source, payload, rejected)

    # --- steps 1-3, one message at a time ----------------------------------------------

    async def _decide(
        self, topic: str, payload: bytes, received_ms: int, keys: dict[str, GatewayKeys | None]
    ) -> _Verdict:
        channel = channel_of(self._topic_root, topic)
        if channel is not None and channel.name == STATUS:
            return await settle_status(self._storage, self._retrier, channel, payload)
        if channel is not None and channel.name == CMD_ACK:
            return Settled(ANSWER, channel.gateway_id)  # cloud.remote waits for it itself
        if channel is not None and channel.name != TELEMETRY:
            detail = f"up/{channel.name} is not handled by this cloud (yet)"
            return Rejected(UNSUPPORTED_TOPIC, detail, channel.gateway_id)
        opened = open_message(self._topic_root, topic, payload)
        if isinstance(opened, Rejected):
            return opened
        return await self._verify_opened(topic, opened, received_ms, keys)

    async def _verify_opened(
        self, source: str, opened: Opened, received_ms: int, keys: dict[str, GatewayKeys | None]
    ) -> _Verdict:
        gateway_id = opened.gateway_id
        if gateway_id not in keys:
            storage = self._storage
            keys[gateway_id] = await self._retrier.run(lambda: storage.gateway_keys(gateway_id))
        verified = verify_with_keys(opened, keys[gateway_id])
        if isinstance(verified, Rejected):
            return verified
        batch, secret = verified
        return self._validate(source, batch, received_ms, secret)

    def _validate(
        self, source: str, batch: Batch, received_ms: int, secret: bytes | None
    ) -> Rejected | _Ready:
        refused = check_batch(batch, received_ms, self._future_margin_ms)
        if refused is not None:
            return refused
        digest = hashlib.sha256(encode_batch(batch)).digest()  # of the batch as sent
        flagged = flag_implausible(batch, self._quantities)
        return _Ready(BatchToStore(flagged, source, digest), secret)

    # --- step 4 and the dead letters, for the whole group ------------------------------

    async def _settle(
        self, messages: list[tuple[str, bytes]], verdicts: list[_Verdict]
    ) -> list[Settled]:
        ready = [(i, v) for i, v in enumerate(verdicts) if isinstance(v, _Ready)]
        if ready:
            stored = await self._store([v for _, v in ready])
            for (index, _), outcome in zip(ready, stored, strict=True):
                verdicts[index] = outcome
        settled: list[Settled] = []
        for (source, payload), verdict in zip(messages, verdicts, strict=True):
            if isinstance(verdict, Rejected):
                settled.append(await self._dead_letter(source, payload, verdict))
            else:
                assert isinstance(verdict, Settled)  # noqa: S101 - every _Ready was stored
                settled.append(verdict)
        return settled

    async def _store(self, ready: list[_Ready]) -> list[Settled | Rejected]:
        items = [r.batch for r in ready]
        about = " ".join(batch_fields(i.batch.gateway_id, i.batch.seq) for i in items[:3])
        storage = self._storage

        async def store() -> list[StoreResult | Exception]:
            with WRITE_SECONDS.time():
                return list(await storage.store_batches(items))

        results = await self._retrier.run(store, about)
        return [
            self._stored(r.batch.batch, r.batch.source, result, r.secret)
            for r, result in zip(ready, results, strict=True)
        ]

    def _stored(
        self, batch: Batch, source: str, result: StoreResult | Exception, secret: bytes | None
    ) -> Settled | Rejected:
        gw = batch.gateway_id
        if isinstance(result, UnknownQuantityError):
            return Rejected(UNKNOWN_QUANTITY, str(result), gw)
        if isinstance(result, SeqReusedError):
            return Rejected(SEQ_REUSED, str(result), gw)
        if isinstance(result, UnknownGatewayError):
            return Rejected(UNKNOWN_GATEWAY, str(result), gw)
        if isinstance(result, Exception):
            return Rejected(INTERNAL_ERROR, f"{type(result).__name__}: {result}", gw)
        fields = batch_fields(gw, batch.seq)
        extra = batch_extra(gw, batch.seq)
        if result.duplicate:
            DUPLICATES.inc()
            log.info("replay of a stored batch %s from %s", fields, source, extra=extra)
            return Settled(DUPLICATE, gw, batch.seq, secret=secret)
        BATCHES_STORED.inc()
        READINGS_STORED.inc(result.stored)
        log.debug("stored %s readings=%d", fields, result.stored, extra=extra)
        return Settled(STORED, gw, batch.seq, readings_stored=result.stored, secret=secret)

    async def _dead_letter(self, source: str, payload: bytes, rejected: Rejected) -> Settled:
        seq = claimed_seq(payload)
        fields = batch_fields(rejected.gateway_id, seq)
        log.info(
            "dead-lettered %s reason=%s source=%s: %s",
            fields,
            rejected.reason,
            source,
            rejected.detail,
            extra=batch_extra(rejected.gateway_id, seq),
        )
        await self._retrier.run(
            lambda: self._storage.dead_letter(
                source=source,
                reason=rejected.reason,
                detail=rejected.detail,
                payload=payload,
                gateway_id=rejected.gateway_id,
                payload_limit=self._policy.dead_letter_payload_bytes,
            ),
            fields,
        )
        DEAD_LETTERS.labels(rejected.reason).inc()
        return Settled(DEAD_LETTERED, rejected.gateway_id, rejected=rejected)

    async def retrying(self, operation: Callable[[], Awaitable[T]], about: str = "") -> T:
        """Run ``operation`` as the pipeline runs its storage calls: retried while storage
        fails (for transports that call storage besides the pipeline: the MQTT worker's
        compact frames); :class:`StoppingError` when stopped meanwhile."""
        return await self._retrier.run(operation, about)


def _now_ms() -> int:
    return int(time.time() * 1000)
