"""What the outbox hands out: sealed batches, quarantined ones, its counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Sealed:
    """A batch that :meth:`OutboxStore.seal` has encoded and stored (``payload`` unsigned)."""

    seq: int
    payload: bytes
    readings: int


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A batch the cloud refused, kept aside until a person resends or exports it."""

    seq: int
    payload: bytes
    readings: int
    created_ms: int
    reason: str
    quarantined_ms: int


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Depth of the outbox, for health reports."""

    pending_readings: int
    unacked_batches: int
    next_seq: int
    unacked_readings: int = 0
    quarantined_batches: int = 0
    oldest_ms: int | None = None
    thinned_readings: int = 0
