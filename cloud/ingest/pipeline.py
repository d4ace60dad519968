"""``IngestPipeline``: one message in, settled out: verify -> validate -> dedupe -> write.

Layer: ingest logic, independent of the transport. A transport (the MQTT worker
in :mod:`cloud.ingest.mqtt`; HTTP or CoAP later) hands each message over as
``(topic, payload)`` and acknowledges it to its sender only once
:meth:`IngestPipeline.handle` has returned a :class:`Settled`: the batch was
committed, recognised as a replay, recorded as presence, or kept as a dead
letter. The steps:

1. route by topic: ``up/status`` is presence, ``up/telemetry`` is a batch,
   other ``up/`` channels are refused as ``unsupported_topic``;
2. verify: parse the envelope (duplicate JSON keys refused) and check its HMAC
   against the gateway's secret (:mod:`cloud.ingest.decode`, pure);
3. validate: refuse two readings of one series at one time and readings from the
   future; flag implausible readings against the vocabulary;
4. dedupe and write: :meth:`cloud.storage.Storage.store_batch` is idempotent on
   (gateway, seq) and on (series, time). The digest that tells a replay from a
   reused seq is taken over the batch as the gateway sent it, before re-flagging,
   so a vocabulary change or workers of two versions do not turn a replay into
   ``seq_reused``.

A refusal at any step becomes a dead letter with its reason. While the database
is unavailable, or a storage call fails unexpectedly (a bug, a constraint this
code does not know), the call is retried with back-off (one log line when failing
starts, one on recovery) and nothing is settled: the message is not
acknowledged, so nothing is lost. :meth:`stop` ends the waiting with
:class:`StoppingError` so the transport leaves the message unacknowledged.
No SQL here, and no MQTT client. A transport that authenticates its peers itself
(the HJ 212 server) hands over a batch with :meth:`IngestPipeline.handle_batch`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from cloud.errors import (
    SeqReusedError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.ingest.batch_log import batch_extra, batch_fields, claimed_seq
from cloud.ingest.decode import (
    DEFAULT_FUTURE_MARGIN_MS,
    REVOKED,
    STATUS,
    TELEMETRY,
    UNKNOWN_GATEWAY,
    UNSUPPORTED_TOPIC,
    Channel,
    Opened,
    Rejected,
    channel_of,
    check_batch,
    flag_implausible,
    open_message,
    parse_status,
    verify_with_keys,
)
from cloud.metrics import (
    BATCHES_STORED,
    DEAD_LETTERS,
    DUPLICATES,
    READINGS_STORED,
    WRITE_SECONDS,
)
from cloud.settings import Settings
from cloud.storage import Storage, StoreResult
from cloud.storage.dead_letters import MAX_DEAD_LETTER_PAYLOAD
from device_profiles import Quantity, load_quantities
from wire import Batch, WireError, encode_batch, open_envelope
from wire.signing import verify_object

log = logging.getLogger(__name__)

T = TypeVar("T")

UNKNOWN_QUANTITY = "unknown_quantity"
SEQ_REUSED = "seq_reused"
INTERNAL_ERROR = "internal_error"
_RETRY_FIRST_S = 0.5
_RETRY_MAX_S = 30.0
# What storage refuses on purpose: a dead letter, not a retry.
_REFUSALS = (UnknownQuantityError, SeqReusedError, UnknownGatewayError)

STORED = "stored"
DUPLICATE = "duplicate"
PRESENCE = "presence"
IGNORED = "ignored"
ANSWER = "answer"  # a gateway's up/cmd-ack: read by whoever sent the command, not stored
CMD_ACK = "cmd-ack"
DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True, slots=True)
class Settled:
    """What became of one message; the transport may acknowledge it now.

    Attributes:
        outcome: ``stored``, ``duplicate``, ``presence``, ``ignored`` (an unsigned or
            forged status), ``answer`` (a gateway's answer on ``up/cmd-ack``, which the
            sender of the command reads itself) or ``dead_lettered``.
        gateway_id: the gateway the message belongs to (claimed, for a dead letter),
            when known.
        seq: the batch's sequence number, for ``stored`` and ``duplicate``.
        readings_stored: readings written by a ``stored`` batch.
        rejected: the reason and detail of a ``dead_lettered`` message.
        secret: the secret that verified the batch (its ack is signed with it: during
            a rotation's grace period the gateway may still hold the old one).
    """

    outcome: str
    gateway_id: str | None = None
    seq: int | None = None
    readings_stored: int = 0
    rejected: Rejected | None = None
    secret: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """The deployment's ingest rules (``SHANSHUI_*`` settings of the same names).

    Attributes:
        future_margin_s: a reading may be stamped at most this long after its batch arrived.
        dead_letter_payload_bytes: bytes of a refused message's payload kept with it.
        batch_log_retention_days: (gateway, seq) of older batches are forgotten.
        dead_letter_retention_days: older dead letters are deleted.
        housekeeping_interval_s: how often a worker prunes those two tables.
    """

    future_margin_s: float = DEFAULT_FUTURE_MARGIN_MS / 1000
    dead_letter_payload_bytes: int = MAX_DEAD_LETTER_PAYLOAD
    batch_log_retention_days: int = 30
    dead_letter_retention_days: int = 90
    housekeeping_interval_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestPolicy:
        """The policy ``settings`` configure."""
        return cls(
            future_margin_s=settings.future_margin_s,
            dead_letter_payload_bytes=settings.dead_letter_payload_bytes,
            batch_log_retention_days=settings.batch_log_retention_days,
            dead_letter_retention_days=settings.dead_letter_retention_days,
        )


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
        policy: margins and limits; defaults to :class:`IngestPolicy`'s.
        observer: told of each committed batch and presence (alarm evaluation).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        topic_root: str = "shanshui/v1",
        quantities: Mapping[str, Quantity] | None = None,
        policy: IngestPolicy | None = None,
        observer: CommitObserver | None = None,
    ) -> None:
        self._storage = storage
        self._observer = observer
        self._topic_root = topic_root
        self._policy = policy or IngestPolicy()
        self._future_margin_ms = int(self._policy.future_margin_s * 1000)
        self._quantities = dict(load_quantities() if quantities is None else quantities)
        self._stopping = asyncio.Event()

    @property
    def storage(self) -> Storage:
        """The storage the pipeline settles into (the listeners look up secrets there)."""
        return self._storage

    @property
    def policy(self) -> IngestPolicy:
        """The rules this pipeline applies."""
        return self._policy

    async def prune(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete batch-log rows and dead letters older than the policy keeps them.

        Returns:
            (batches forgotten, dead letters deleted).
        """
        now = now or datetime.now(UTC)
        policy = self._policy
        batches = await self._storage.prune_ingested_batches(
            now - timedelta(days=policy.batch_log_retention_days)
        )
        letters = await self._storage.prune_dead_letters(
            now - timedelta(days=policy.dead_letter_retention_days)
        )
        if batches or letters:
            log.info("pruned %d batch-log rows and %d dead letters", batches, letters)
        return batches, letters

    @property
    def topic_root(self) -> str:
        """Prefix of the topics this pipeline accepts."""
        return self._topic_root

    def stop(self) -> None:
        """Cut short every back-off in progress: :meth:`handle` raises :class:`StoppingError`."""
        self._stopping.set()

    async def handle(self, topic: str, payload: bytes, received_ms: int | None = None) -> Settled:
        """Settle one message: store it, record it, or keep it as a dead letter.

        Args:
            topic: where it was published (MQTT) or the equivalent for other transports.
            payload: the message as received.
            received_ms: when it arrived, epoch milliseconds; default now.

        Raises:
            StoppingError: :meth:`stop` was called while storage was failing.
        """
        arrived_ms = int(time.time() * 1000) if received_ms is None else received_ms
        try:
            settled = await self._decide(topic, payload, arrived_ms)
        except StoppingError:
            raise
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception("unexpected error handling a message on %s", topic)
            settled = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", None)
        if isinstance(settled, Rejected):
            return await self._dead_letter(topic, payload, settled)
        return settled

    async def handle_signed(
        self, source: str, payload: bytes, received_ms: int | None = None
    ) -> Settled:
        """Settle a signed envelope that came without a topic (HTTP ingest).

        The gateway is the one the envelope names; its signature proves it.

        Raises:
            StoppingError: :meth:`stop` was called while storage was failing.
        """
        arrived_ms = int(time.time() * 1000) if received_ms is None else received_ms
        try:
            settled = await self._verify_and_store(source, payload, arrived_ms)
        except StoppingError:
            raise
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception("unexpected error handling a message from %s", source)
            settled = Rejected(INTERNAL_ERROR, f"{type(exc).__name__}: {exc}", None)
        if isinstance(settled, Rejected):
            return await self._dead_letter(source, payload, settled)
        return settled

    async def _verify_and_store(
        self, source: str, payload: bytes, received_ms: int
    ) -> Settled | Rejected:
        try:
            opened = Opened(open_envelope(payload))
        except WireError as exc:
            return Rejected(exc.reason, exc.message, None)
        return await self._verify_opened(source, opened, received_ms)

    async def handle_batch(
        self, source: str, batch: Batch, payload: bytes, received_ms: int | None = None
    ) -> Settled:
        """Settle a batch its transport has already authenticated (HJ 212, NB-IoT frames).

        Validate -> dedupe -> write, as for a verified MQTT batch; a refusal becomes
        a dead letter holding ``payload``, the bytes as they arrived.

        Raises:
            StoppingError: :meth:`stop` was called while the database was unavailable.
        """
        arrived_ms = int(time.time() * 1000) if received_ms is None else received_ms
        try:
            settled = await self._validate_and_store(source, batch, arrived_ms)
        except StoppingError:
            raise
        except Exception as exc:  # a bug must not stop ingest: keep the message for later
            log.exception(
                "unexpected error handling a batch from %s %s",
                source,
                batch_fields(batch.gateway_id, batch.seq),
                extra=batch_extra(batch.gateway_id, batch.seq),
            )
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

    async def _decide(self, topic: str, payload: bytes, received_ms: int) -> Settled | Rejected:
        channel = channel_of(self._topic_root, topic)
        if channel is not None and channel.name == STATUS:
            return await self._presence(channel, payload)
        if channel is not None and channel.name == CMD_ACK:
            return Settled(ANSWER, channel.gateway_id)  # cloud.remote waits for it itself
        if channel is not None and channel.name != TELEMETRY:
            detail = f"up/{channel.name} is not handled by this cloud (yet)"
            return Rejected(UNSUPPORTED_TOPIC, detail, channel.gateway_id)
        opened = open_message(self._topic_root, topic, payload)
        if isinstance(opened, Rejected):
            return opened
        return await self._verify_opened(topic, opened, received_ms)

    async def _verify_opened(
        self, source: str, opened: Opened, received_ms: int
    ) -> Settled | Rejected:
        gateway_id = opened.gateway_id
        keys = await self._retrying(lambda: self._storage.gateway_keys(gateway_id))
        verified = verify_with_keys(opened, keys)
        if isinstance(verified, Rejected):
            return verified
        batch, secret = verified
        settled = await self._validate_and_store(source, batch, received_ms)
        return settled if isinstance(settled, Rejected) else replace(settled, secret=secret)

    async def _validate_and_store(
        self, source: str, batch: Batch, received_ms: int
    ) -> Settled | Rejected:
        refused = check_batch(batch, received_ms, self._future_margin_ms)
        if refused is not None:
            return refused
        digest = hashlib.sha256(encode_batch(batch)).digest()  # of the batch as sent
        return await self._store(source, flag_implausible(batch, self._quantities), digest)

    async def _presence(self, channel: Channel, payload: bytes) -> Settled | Rejected:
        # signed in place by the gateway (wire.sign_object): an unsigned or forged
        # status is ignored and counted, so nobody else can make up its devices
        gateway_id = channel.gateway_id
        keys = await self._retrying(lambda: self._storage.gateway_keys(gateway_id))
        if keys is not None and keys.revoked:
            return Rejected(REVOKED, f"gateway {gateway_id!r} is revoked", gateway_id)
        if keys is None or not keys.usable:
            detail = f"gateway {gateway_id!r} is not registered or is disabled"
            return Rejected(UNKNOWN_GATEWAY, detail, gateway_id)
        opened_status = _verify_status(payload, keys.accepted)
        if opened_status is None:
            log.info("ignored a status on %s: bad signature", gateway_id)
            return Settled(IGNORED, gateway_id)
        payload = opened_status
        status = parse_status(channel, payload)
        if isinstance(status, Rejected):
            return status
        gateway_id = channel.gateway_id
        devices = {name: (d.state, d.error) for name, d in status.devices.items()}
        try:
            await self._retrying(
                lambda: self._storage.set_presence(gateway_id, status.state, devices, status.report)
            )
        except UnknownGatewayError as exc:
            return Rejected(UNKNOWN_GATEWAY, str(exc), gateway_id)
        if self._observer is not None:
            self._observer.status_committed(gateway_id, status.state == "online")
        return Settled(PRESENCE, gateway_id)

    async def _store(self, source: str, batch: Batch, digest: bytes) -> Settled | Rejected:
        fields = batch_fields(batch.gateway_id, batch.seq)

        async def store() -> StoreResult:
            with WRITE_SECONDS.time():
                return await self._storage.store_batch(batch, source, digest=digest)

        try:
            result = await self._retrying(store, fields)
        except UnknownQuantityError as exc:
            return Rejected(UNKNOWN_QUANTITY, str(exc), batch.gateway_id)
        except SeqReusedError as exc:
            return Rejected(SEQ_REUSED, str(exc), batch.gateway_id)
        except UnknownGatewayError as exc:
            return Rejected(UNKNOWN_GATEWAY, str(exc), batch.gateway_id)
        extra = batch_extra(batch.gateway_id, batch.seq)
        if result.duplicate:
            DUPLICATES.inc()
            log.info("replay of a stored batch %s from %s", fields, source, extra=extra)
            return Settled(DUPLICATE, batch.gateway_id, batch.seq)
        BATCHES_STORED.inc()
        READINGS_STORED.inc(result.stored)
        log.debug("stored %s readings=%d", fields, result.stored, extra=extra)
        if self._observer is not None:
            self._observer.batch_committed(batch)
        return Settled(STORED, batch.gateway_id, batch.seq, readings_stored=result.stored)

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
        await self._retrying(
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
        """Run ``operation`` as the pipeline runs its storage calls: retried while storage fails.

        For transports whose settling calls storage besides the pipeline (the MQTT
        worker's compact frames). Raises :class:`StoppingError` when stopped meanwhile.
        """
        return await self._retrying(operation, about)

    async def _retrying(self, operation: Callable[[], Awaitable[T]], about: str = "") -> T:
        """Run ``operation`` until it settles; back off while storage fails.

        Refusals (:data:`_REFUSALS`) pass through at once. Anything else is
        retried: unavailability is expected and logged as a warning, any other
        error as an exception with its traceback, once per failing spell.
        ``about`` (``gateway=… seq=…``) names the batch in those lines.
        """
        delay_s = _RETRY_FIRST_S
        failing = False
        while True:
            try:
                result = await operation()
            except _REFUSALS:
                raise
            except StorageUnavailableError as exc:
                if not failing:
                    log.warning("database unavailable, holding the message %s: %s", about, exc)
                    failing = True
            except Exception:
                if not failing:
                    log.exception("unexpected error from storage, holding the message %s", about)
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


def _verify_status(payload: bytes, accepted: tuple[bytes, ...]) -> bytes | None:
    """The status payload verified by one of the accepted secrets, or None."""
    for secret in accepted:
        try:
            return verify_object(payload, secret)
        except WireError:
            continue
    return None
