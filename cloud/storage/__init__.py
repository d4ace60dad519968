"""Storage: the only package of the cloud that contains SQL.

Layer: persistence over psycopg 3. :class:`Storage` (async, pooled) serves the
API and the ingest workers; :mod:`cloud.storage.admin` (sync) serves migrations
and operators' tools. Nothing above this package sees SQL or a psycopg error.
"""

from cloud.storage.models import (
    AppliedMigration,
    DeadLetter,
    DeviceSummary,
    GatewaySummary,
    LatestReading,
    Rollup,
    SeriesReadings,
    SeriesRollups,
    StoredReading,
    StoreResult,
    to_time_ms,
)
from cloud.storage.rollups import DAILY, HOURLY
from cloud.storage.store import Storage

__all__ = [
    "DAILY",
    "HOURLY",
    "AppliedMigration",
    "DeadLetter",
    "DeviceSummary",
    "GatewaySummary",
    "LatestReading",
    "Rollup",
    "SeriesReadings",
    "SeriesRollups",
    "Storage",
    "StoreResult",
    "StoredReading",
    "to_time_ms",
]
