"""Ingest: telemetry from gateways into storage.

Layer: ``decode`` is pure (accept, or a dead-letter reason); ``pipeline`` settles
one message whatever carried it (verify -> validate -> dedupe -> write, or a dead
letter); ``mqtt`` is the MQTT worker that feeds the pipeline and acknowledges.
None of them contains SQL.
"""

from cloud.ingest.mqtt import IngestStats, IngestWorker
from cloud.ingest.pipeline import IngestPipeline, IngestPolicy, Settled

__all__ = ["IngestPipeline", "IngestPolicy", "IngestStats", "IngestWorker", "Settled"]
