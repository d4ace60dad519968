"""Bucketed aggregates (avg/min/max/count of valid readings) of series resolved in scope.

Layer: storage. Counts only readings flagged ``N`` (valid). Calendar buckets (day,
week from Monday, month) are cut in each station's time zone; fixed buckets
(minutes, hours) are aligned to local midnight of 2000-01-01 there.

From the rollups where they fit: a window whose bucket is a whole number of hours
(or a calendar unit), whose ends are whole UTC hours and whose station's zone is a
whole number of hours from UTC (China's is) is summed from ``readings_1h``
(migration 0006: sums and counts of valid readings per hour, a continuous
aggregate on TimescaleDB, a table kept by ingest without it), 60 times fewer rows
for 1-minute data. Other windows read the raw readings. Both give the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from cloud.storage.access import VisibleSeries
from cloud.storage.queries import windows
from cloud.storage.store import Storage

HOUR = timedelta(hours=1)

# bucket name -> (fixed interval, or calendar unit for date_trunc)
BUCKETS: dict[str, timedelta | str] = {
    "1min": timedelta(minutes=1),
    "5min": timedelta(minutes=5),
    "10min": timedelta(minutes=10),
    "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30),
    "1h": HOUR,
    "2h": 2 * HOUR,
    "3h": 3 * HOUR,
    "6h": 6 * HOUR,
    "8h": 8 * HOUR,
    "12h": 12 * HOUR,
    "1d": "day",
    "1w": "week",
    "1mo": "month",
}


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregates of one series over one bucket; ``start`` is the bucket's first instant."""

    series_id: int
    start: datetime
    avg: float
    min: float
    max: float
    count: int


_FIXED = "date_bin(%(step)s::interval, {column}, w.origin)"
_CALENDAR = "date_trunc(%(unit)s, {column}, w.tz)"

# Per window (series), so each groups only its own rows, in memory.
_RAW = """
SELECT w.id, a.b, a.avg, a.min, a.max, a.count
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[],
            %(origins)s::timestamptz[], %(tzs)s::text[]) AS w(id, lo, hi, origin, tz)
CROSS JOIN LATERAL (
    SELECT {bucket} AS b,
           avg(r.value) AS avg, min(r.value) AS min, max(r.value) AS max, count(*) AS count
    FROM readings r
    WHERE r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi AND r.quality = 'N'
    GROUP BY 1
) AS a
"""

_FROM_HOURLY = """
SELECT w.id, a.b, a.total / a.count, a.min, a.max, a.count
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[],
            %(origins)s::timestamptz[], %(tzs)s::text[]) AS w(id, lo, hi, origin, tz)
CROSS JOIN LATERAL (
    SELECT {bucket} AS b, sum(h.value_sum) AS total, min(h.value_min) AS min,
           max(h.value_max) AS max, sum(h.valid_count) AS count
    FROM readings_1h h
    WHERE h.series_id = w.id AND h.bucket >= w.lo AND h.bucket < w.hi AND h.valid_count > 0
    GROUP BY 1
) AS a
"""


async def aggregate(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    bucket: str,
) -> list[Bucket]:
    """avg/min/max/count of valid readings per series and bucket (see :data:`BUCKETS`),
    by series then bucket."""
    rows = await bucket_rows(
        storage, (_RAW, _FROM_HOURLY), series, start, end, bucket, doing="aggregating readings"
    )
    return [
        Bucket(sid, b.astimezone(UTC), float(avg), low, high, int(count))
        for sid, b, avg, low, high, count in rows
    ]


async def bucket_rows(  # noqa: PLR0917 - the window's parts, as aggregate() takes them
    storage: Storage,
    templates: tuple[str, str],
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    bucket: str,
    *,
    doing: str,
) -> list[tuple[Any, ...]]:
    """Rows of a query per bucket, by series then bucket: ``templates`` are its form over
    raw readings (bucketing ``r.time``) and over the hourly rollup (``h.bucket``), each
    run for the windows :func:`split_by_source` gives it."""
    raw, hourly = split_by_source(series, start, end, bucket)
    expression, extra = bucket_expression(bucket)
    rows: list[tuple[Any, ...]] = []
    async with storage.connection(doing) as conn:
        for template, column, params in zip(
            templates, ("r.time", "h.bucket"), (raw, hourly), strict=True
        ):
            if params["ids"]:
                query = template.format(bucket=expression.format(column=column))
                cursor = await conn.execute(query, params | extra)
                rows += await cursor.fetchall()
    rows.sort(key=lambda row: (row[0], row[1]))
    return rows


def split_by_source(
    series: Sequence[VisibleSeries], start: datetime, end: datetime, bucket: str
) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Query parameters of the windows read from raw readings, and of those from the rollups."""
    size = BUCKETS[bucket]
    every = windows(series, start, end)
    raw: dict[str, list[Any]] = {k: [] for k in (*every, "origins")}
    hourly: dict[str, list[Any]] = {k: [] for k in (*every, "origins")}
    for i in range(len(every["ids"])):
        lo, hi, tz = every["los"][i], every["his"][i], every["tzs"][i]
        target = hourly if fits_hourly(size, lo, hi, tz) else raw
        for name in every:
            target[name].append(every[name][i])
        target["origins"].append(local_origin(tz))
    return raw, hourly


def bucket_expression(bucket: str) -> tuple[str, dict[str, timedelta | str]]:
    """The SQL that cuts ``{column}`` into buckets of ``bucket``, and its parameters."""
    size = BUCKETS[bucket]
    if isinstance(size, timedelta):
        return _FIXED, {"step": size}
    return _CALENDAR, {"unit": size}


def fits_hourly(size: timedelta | str, lo: datetime, hi: datetime, time_zone: str) -> bool:
    """Whether buckets of ``size`` over ``[lo, hi)`` in ``time_zone`` are unions of UTC hours."""
    if isinstance(size, timedelta) and size % HOUR:
        return False
    if any(t.astimezone(UTC).minute or t.second or t.microsecond for t in (lo, hi)):
        return False
    zone = ZoneInfo(time_zone)
    return all(
        (t.astimezone(zone).utcoffset() or timedelta()) % HOUR == timedelta() for t in (lo, hi)
    )


@cache
def local_origin(time_zone: str) -> datetime:
    """2000-01-01 00:00 local time in ``time_zone``, where fixed buckets are aligned."""
    return datetime(2000, 1, 1, tzinfo=ZoneInfo(time_zone)).astimezone(UTC)
