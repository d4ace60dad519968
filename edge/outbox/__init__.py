"""The durable outbox between pollers and uplinks (SQLite)."""

from edge.outbox.runner import OutboxRunner
from edge.outbox.store import OutboxCounts, OutboxStore, Quarantined, Sealed

__all__ = ["OutboxCounts", "OutboxRunner", "OutboxStore", "Quarantined", "Sealed"]
