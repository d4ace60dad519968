"""``AckSender``: tell each gateway, signed with its own secret, which batches are settled.

Layer: ingest glue between the pipeline's verdicts and a transport's publish
function. No SQL (the secret comes from a lookup function), no MQTT client (the
worker passes ``publish``), no wire format of its own (:mod:`wire.ack`).

The gateway deletes a batch from its outbox only on this acknowledgement, so it
is sent only after the pipeline has settled the batch: committed (or
recognised as already stored) or kept as a dead letter. Settlements collect per
gateway and go out as one ack per gateway when the worker has nothing more
queued (or :data:`FLUSH_AT` have collected), so under load one ack message
settles many batches.

Refusals: a dead-lettered telemetry batch is refused with its dead-letter
reason, its seq read from the (unverified) body and, as the refusal's tag, the
start of the signature it came with: the gateway compares that tag with its own
signature of the batch, so it can tell a refusal of its current copy from one
of a copy signed with an old secret (re-sign and re-send) or of a forgery by
someone else on the topic (ignore). A message without a readable seq, or of a
gateway without a secret, gets no ack: the gateway re-sends it after its
timeout, which is all it can do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from cloud.errors import StorageError
from cloud.ingest.decode import TELEMETRY, channel_of
from cloud.ingest.pipeline import DEAD_LETTERED, DUPLICATE, STORED, Settled
from wire import WireError, open_envelope
from wire.ack import MAX_REFUSALS, MAX_SETTLED, TAG_BYTES, Ack, Refusal, sign_ack
from wire.batch import MAX_SEQ

log = logging.getLogger(__name__)

FLUSH_AT = 500  # settlements collected before an ack goes out even under load
QOS = 1


def ack_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gateway}/down/ack``."""
    return f"{topic_root}/{gateway_id}/down/ack"


@dataclass
class _Pending:
    committed: set[int] = field(default_factory=set)
    refused: dict[int, Refusal] = field(default_factory=dict)
    secret: bytes | None = field(default=None, repr=False)  # the one that verified


class AckSender:
    """Collect settlements (:meth:`add`), publish signed acks (:meth:`flush`).

    Args:
        publish: sends ``(topic, payload)`` at QoS 1 (fire and forget: a lost
            ack only makes the gateway re-send, and the re-send is a duplicate).
        secret_of: the gateway's current secret, or None if unknown or disabled.
        topic_root: prefix of the gateways' topics.
    """

    def __init__(
        self,
        publish: Callable[[str, bytes], None],
        secret_of: Callable[[str], Awaitable[bytes | None]],
        topic_root: str,
    ) -> None:
        self._publish = publish
        self._secret_of = secret_of
        self._topic_root = topic_root
        self._pending: dict[str, _Pending] = {}
        self._count = 0
        self.published = 0

    @property
    def due(self) -> bool:
        """Whether enough settlements wait that they should go out now."""
        return self._count >= FLUSH_AT

    def add(self, topic: str, payload: bytes, settled: Settled) -> None:
        """Record what became of one message, if it was a telemetry batch."""
        if settled.outcome in (STORED, DUPLICATE):
            if settled.gateway_id is not None and settled.seq is not None:
                entry = self._entry(settled.gateway_id)
                entry.committed.add(settled.seq)
                if settled.secret is not None:
                    entry.secret = settled.secret
                self._count += 1
        elif settled.outcome == DEAD_LETTERED and settled.rejected is not None:
            refusal = _refusal(self._topic_root, topic, payload, settled.rejected.reason)
            if refusal is not None:
                gateway_id, refused = refusal
                entry = self._entry(gateway_id)
                if refused.seq not in entry.committed:
                    entry.refused[refused.seq] = refused
                    self._count += 1

    async def flush(self) -> int:
        """Publish one signed ack per gateway with settlements; return how many went out."""
        pending, self._pending, self._count = self._pending, {}, 0
        sent = 0
        for gateway_id, entry in pending.items():
            try:
                # signed with the secret that verified its batches (the old one, while
                # the gateway has not yet been given the new one after a rotation)
                secret = entry.secret or await self._secret_of(gateway_id)
            except StorageError as exc:
                log.warning("no ack for %s now (its batches come again): %s", gateway_id, exc)
                continue
            if secret is None:
                continue
            topic = ack_topic(self._topic_root, gateway_id)
            for ack in _acks(gateway_id, entry):
                self._publish(topic, sign_ack(ack, secret))
                sent += 1
        self.published += sent
        return sent

    def _entry(self, gateway_id: str) -> _Pending:
        return self._pending.setdefault(gateway_id, _Pending())


def _acks(gateway_id: str, entry: _Pending) -> list[Ack]:
    committed = sorted(entry.committed)
    refused = [entry.refused[s] for s in sorted(entry.refused) if s not in entry.committed]
    acks = []
    while committed or refused:
        acks.append(Ack(gateway_id, tuple(committed[:MAX_SETTLED]), tuple(refused[:MAX_REFUSALS])))
        committed, refused = committed[MAX_SETTLED:], refused[MAX_REFUSALS:]
    return acks


def _refusal(
    topic_root: str, topic: str, payload: bytes, reason: str
) -> tuple[str, Refusal] | None:
    """The gateway and refusal for a dead-lettered telemetry message, if it names a seq."""
    channel = channel_of(topic_root, topic)
    if channel is None or channel.name != TELEMETRY:
        return None
    try:
        signed = open_envelope(payload)
        body = json.loads(signed.body)
    except (WireError, ValueError):
        return None
    seq = body.get("seq") if isinstance(body, dict) else None
    if signed.gateway_id != channel.gateway_id or type(seq) is not int or not 0 <= seq <= MAX_SEQ:
        return None
    try:
        return signed.gateway_id, Refusal(seq, reason, signed.signature[:TAG_BYTES])
    except WireError:  # a reason outside the ack's code rules: no ack
        return None
