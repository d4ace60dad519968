"""What the ingest pipeline decides about a message, and the rules it decides by.

Layer: ingest logic, plain data (no I/O). :class:`Settled` is the verdict a
transport acknowledges on; :class:`IngestPolicy` holds the deployment's ingest
rules; :class:`StoppingError` tells a transport to leave a message
unacknowledged because the worker is stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from cloud.ingest.decode import DEFAULT_FUTURE_MARGIN_MS, Rejected
from cloud.settings import Settings
from cloud.storage.dead_letters import MAX_DEAD_LETTER_PAYLOAD

STORED = "stored"
DUPLICATE = "duplicate"
PRESENCE = "presence"
IGNORED = "ignored"
ANSWER = "answer"  # a gateway's up/cmd-ack: read by whoever sent the command, not stored
CMD_ACK = "cmd-ack"
DEAD_LETTERED = "dead_lettered"

# dead-letter reasons decided after verification (decode.py has the others)
UNKNOWN_QUANTITY = "unknown_quantity"
SEQ_REUSED = "seq_reused"
INTERNAL_ERROR = "internal_error"


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
        readings_retention_days: older readings are deleted (plain PostgreSQL; on
            TimescaleDB its retention policy drops them); None keeps them all.
        housekeeping_interval_s: how often a worker prunes.
    """

    future_margin_s: float = DEFAULT_FUTURE_MARGIN_MS / 1000
    dead_letter_payload_bytes: int = MAX_DEAD_LETTER_PAYLOAD
    batch_log_retention_days: int = 30
    dead_letter_retention_days: int = 90
    readings_retention_days: int | None = None
    housekeeping_interval_s: float = 3600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestPolicy:
        """The policy ``settings`` configure."""
        return cls(
            future_margin_s=settings.future_margin_s,
            dead_letter_payload_bytes=settings.dead_letter_payload_bytes,
            batch_log_retention_days=settings.batch_log_retention_days,
            dead_letter_retention_days=settings.dead_letter_retention_days,
            readings_retention_days=settings.retention_days,
        )


class Pruned(NamedTuple):
    """Rows one housekeeping round deleted."""

    batches: int
    dead_letters: int
    readings: int = 0


class StoppingError(Exception):
    """The pipeline is stopping while waiting to retry: leave the message unacknowledged."""
