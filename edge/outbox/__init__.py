"""The durable outbox between pollers and uplinks (SQLite)."""

from edge.outbox.models import OutboxCounts, Quarantined, Sealed
from edge.outbox.runner import OutboxRunner
from edge.outbox.store import OutboxStore

__all__ = ["OutboxCounts", "OutboxRunner", "OutboxStore", "Quarantined", "Sealed"]
