"""Ingest: telemetry from gateways into storage.

Layer: ``decode`` is pure (accept, or a dead-letter reason); ``consumer`` is the
MQTT worker that feeds decode's verdicts to :class:`cloud.storage.Storage`.
Neither contains SQL.
"""

from cloud.ingest.consumer import IngestStats, IngestWorker

__all__ = ["IngestStats", "IngestWorker"]
