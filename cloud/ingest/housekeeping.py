"""Housekeeping of an ingest deployment: what its policy no longer keeps is deleted.

Layer: ingest logic over storage calls (no SQL here: :mod:`cloud.storage.retention`
deletes in bounded chunks). Run hourly by every ingest worker and on demand by
``shanshui cloud retention run``; running it twice at once is harmless.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from cloud.ingest.outcomes import IngestPolicy, Pruned
from cloud.storage import Storage

log = logging.getLogger(__name__)


async def prune(storage: Storage, policy: IngestPolicy, now: datetime | None = None) -> Pruned:
    """Delete batch-log rows, dead letters and readings older than ``policy`` keeps them.

    Readings only with a ``readings_retention_days`` and on plain PostgreSQL (on
    TimescaleDB its retention policy drops them); their rollups are kept, their
    ``reading_means`` rows go with them on both.
    """
    now = now or datetime.now(UTC)
    batches = await storage.prune_ingested_batches(
        now - timedelta(days=policy.batch_log_retention_days)
    )
    letters = await storage.prune_dead_letters(
        now - timedelta(days=policy.dead_letter_retention_days)
    )
    readings = 0
    if policy.readings_retention_days is not None:
        readings = await storage.prune_readings(
            now - timedelta(days=policy.readings_retention_days)
        )
    pruned = Pruned(batches, letters, readings)
    if any(pruned):
        log.info("pruned %d batch-log rows, %d dead letters and %d readings", *pruned)
    return pruned
