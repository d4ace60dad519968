"""``IngestStats``: what an ingest worker has done since it started.

Layer: ingest, plain data and a thread-safe counter (the MQTT network thread
and the event loop both count). No I/O.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

from cloud.ingest.outcomes import ANSWER, DUPLICATE, IGNORED, PRESENCE, STORED, Settled


@dataclass(frozen=True, slots=True)
class IngestStats:
    """Counters since the worker started.

    Attributes:
        accepted: batches stored.
        duplicate: batches recognised as replays and not stored again.
        dead_lettered: messages kept in ``dead_letters``.
        readings_stored: readings written by the accepted batches.
        presence_updates: ``up/status`` messages recorded for registered gateways.
        ignored_status: ``up/status`` messages ignored as unsigned or forged.
        acks_published: signed acks published on gateways' ``down/ack``.
        connected: whether the broker connection is up right now.
        subscriptions: subscriptions the broker granted: 1 after start, one more
            after each reconnection.
        groups: transactions the worker's batches were committed in (group commit:
            fewer than the batches under load).
    """

    accepted: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    readings_stored: int = 0
    presence_updates: int = 0
    acks_published: int = 0
    ignored_status: int = 0
    connected: bool = False
    subscriptions: int = 0
    groups: int = 0

    @property
    def processed(self) -> int:
        """Messages finished (and acknowledged) so far."""
        return (
            self.accepted
            + self.duplicate
            + self.dead_lettered
            + self.presence_updates
            + self.ignored_status
        )


class StatsCounter:
    """The current :class:`IngestStats`, updated from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = IngestStats()

    @property
    def snapshot(self) -> IngestStats:
        """The counters now."""
        with self._lock:
            return self._stats

    def count(self, **increments: int) -> None:
        """Add to the named counters."""
        with self._lock:
            changes = {k: getattr(self._stats, k) + v for k, v in increments.items()}
            self._stats = dataclasses.replace(self._stats, **changes)

    def set_connected(self, connected: bool) -> None:
        """Record the broker connection's state."""
        with self._lock:
            self._stats = dataclasses.replace(self._stats, connected=connected)

    def count_settled(self, settled: Settled) -> None:
        """Count one settled message by its outcome."""
        if settled.outcome == STORED:
            self.count(accepted=1, readings_stored=settled.readings_stored)
        elif settled.outcome == DUPLICATE:
            self.count(duplicate=1)
        elif settled.outcome == PRESENCE:
            self.count(presence_updates=1)
        elif settled.outcome == IGNORED:
            self.count(ignored_status=1)
        elif settled.outcome != ANSWER:
            self.count(dead_lettered=1)
