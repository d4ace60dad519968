"""Per time bucket, how many readings a series had and how many of them were valid.

Layer: storage. The complement of :mod:`cloud.storage.aggregates`, which counts only
valid readings (flag ``N``): this counts every reading, so that a chart of bucket
means can say how much of each bucket was flagged (maintenance, fault, calibration,
...) or invalid. Only buckets holding at least one reading that is not valid are
returned. Buckets are cut exactly as :func:`cloud.storage.aggregates.aggregate` cuts
them, and come from ``readings_1h`` (``reading_count``, ``valid_count``) where the
window fits whole hours, else from the raw readings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cloud.storage.access import VisibleSeries
from cloud.storage.aggregates import bucket_rows
from cloud.storage.store import Storage


@dataclass(frozen=True, slots=True)
class FlagShare:
    """Readings of one series in one bucket: all of them, and the valid ones."""

    series_id: int
    start: datetime
    readings: int
    valid: int


_WINDOWS = """unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[],
            %(origins)s::timestamptz[], %(tzs)s::text[]) AS w(id, lo, hi, origin, tz)"""

_RAW = f"""
SELECT w.id, a.b, a.readings, a.valid
FROM {_WINDOWS}
CROSS JOIN LATERAL (
    SELECT {{bucket}} AS b, count(*) AS readings,
           count(*) FILTER (WHERE r.quality = 'N') AS valid
    FROM readings r
    WHERE r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi
    GROUP BY 1
    HAVING count(*) > count(*) FILTER (WHERE r.quality = 'N')
) AS a
"""  # noqa: S608 - composed of this module's constants only

_FROM_HOURLY = f"""
SELECT w.id, a.b, a.readings, a.valid
FROM {_WINDOWS}
CROSS JOIN LATERAL (
    SELECT {{bucket}} AS b, sum(h.reading_count) AS readings, sum(h.valid_count) AS valid
    FROM readings_1h h
    WHERE h.series_id = w.id AND h.bucket >= w.lo AND h.bucket < w.hi
      AND h.reading_count > h.valid_count
    GROUP BY 1
) AS a
"""  # noqa: S608 - composed of this module's constants only


async def flag_shares(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    bucket: str,
) -> list[FlagShare]:
    """Buckets (see :data:`cloud.storage.aggregates.BUCKETS`) with readings not flagged ``N``,
    by series then bucket."""
    rows = await bucket_rows(
        storage, (_RAW, _FROM_HOURLY), series, start, end, bucket, doing="counting flagged readings"
    )
    return [
        FlagShare(sid, b.astimezone(UTC), int(readings), int(valid))
        for sid, b, readings, valid in rows
    ]
