"""Reading queries over series already resolved in scope: pages, exports, buckets, latest.

Layer: storage. Every function takes :class:`cloud.storage.access.VisibleSeries`
(from :func:`cloud.storage.access.visible_series`), so what a caller may see is
decided once, and each series is read only inside its windows. Pages use keyset
pagination on ``(time, series_id)``; exports stream through a server-side cursor
and never hold the result in memory. Aggregates count readings flagged ``N``
(valid) only, and cut calendar buckets (day, week, month) in each station's time
zone; fixed buckets (minutes, hours) are aligned to local midnight of 2000-01-01.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cloud.storage.access import VisibleSeries, clip
from cloud.storage.store import Storage

Order = Literal["asc", "desc"]
EXPORT_FETCH_ROWS = 5000

# bucket name -> (fixed interval, or calendar unit for date_trunc)
BUCKETS: dict[str, timedelta | str] = {
    "1min": timedelta(minutes=1),
    "5min": timedelta(minutes=5),
    "10min": timedelta(minutes=10),
    "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30),
    "1h": timedelta(hours=1),
    "2h": timedelta(hours=2),
    "3h": timedelta(hours=3),
    "6h": timedelta(hours=6),
    "8h": timedelta(hours=8),
    "12h": timedelta(hours=12),
    "1d": "day",
    "1w": "week",
    "1mo": "month",
}


@dataclass(frozen=True, slots=True)
class Row:
    """One reading of a series (by id)."""

    series_id: int
    time: datetime
    value: float
    quality: str


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregates of one series over one bucket; ``start`` is the bucket's first instant."""

    series_id: int
    start: datetime
    avg: float
    min: float
    max: float
    count: int


_WINDOWS = (
    "unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[]) AS w(id, lo, hi)"
)

_PAGE = {
    order: f"""
SELECT r.series_id, r.time, r.value, r.quality
FROM {_WINDOWS}
JOIN readings r ON r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi
WHERE %(after_t)s::timestamptz IS NULL
   OR (r.time, r.series_id) {op} (%(after_t)s::timestamptz, %(after_s)s::bigint)
ORDER BY r.time {order}, r.series_id {order}
LIMIT %(limit)s
"""
    for order, op in (("asc", ">"), ("desc", "<"))
}

_EXPORT = {
    order: f"""
SELECT r.series_id, r.time, r.value, r.quality
FROM {_WINDOWS}
JOIN readings r ON r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi
ORDER BY r.time {order}, r.series_id {order}
"""
    for order in ("asc", "desc")
}

# Per window (series), so each sorts and groups only its own rows in memory. origin: local
# midnight of 2000-01-01 in the station's zone, computed once per window in Python.
_AGGREGATE_FIXED = """
SELECT w.id, a.b, a.avg, a.min, a.max, a.count
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[],
            %(origins)s::timestamptz[]) AS w(id, lo, hi, origin)
CROSS JOIN LATERAL (
    SELECT date_bin(%(step)s::interval, r.time, w.origin) AS b,
           avg(r.value) AS avg, min(r.value) AS min, max(r.value) AS max, count(*) AS count
    FROM readings r
    WHERE r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi AND r.quality = 'N'
    GROUP BY 1
) AS a
ORDER BY w.id, a.b
"""

_AGGREGATE_CALENDAR = """
SELECT w.id, a.b, a.avg, a.min, a.max, a.count
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[], %(tzs)s::text[])
     AS w(id, lo, hi, tz)
CROSS JOIN LATERAL (
    SELECT date_trunc(%(unit)s, r.time, w.tz) AS b,
           avg(r.value) AS avg, min(r.value) AS min, max(r.value) AS max, count(*) AS count
    FROM readings r
    WHERE r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi AND r.quality = 'N'
    GROUP BY 1
) AS a
ORDER BY w.id, a.b
"""

_LATEST = """
SELECT DISTINCT ON (w.id) w.id, r.time, r.value, r.quality
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[]) AS w(id, lo, hi)
JOIN LATERAL (
    SELECT time, value, quality FROM readings
    WHERE series_id = w.id
      AND time >= coalesce(w.lo, '-infinity') AND time < coalesce(w.hi, 'infinity')
    ORDER BY time DESC
    LIMIT 1
) AS r ON true
ORDER BY w.id, r.time DESC
"""


def _windows(
    series: Sequence[VisibleSeries], start: datetime, end: datetime
) -> dict[str, list[Any]]:
    ids: list[int] = []
    los: list[datetime] = []
    his: list[datetime] = []
    tzs: list[str] = []
    for one in series:
        for lo, hi in clip(one.windows, start, end):
            ids.append(one.id)
            los.append(lo)
            his.append(hi)
            tzs.append(one.time_zone)
    return {"ids": ids, "los": los, "his": his, "tzs": tzs}


async def page(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    *,
    order: Order = "asc",
    limit: int = 1000,
    after: tuple[datetime, int] | None = None,
) -> tuple[list[Row], bool]:
    """Up to ``limit`` readings with ``start <= time < end`` after the keyset ``after``.

    Returns:
        The rows, ordered by (time, series id) in ``order``, and whether more follow.
    """
    params = _windows(series, start, end) | {
        "after_t": None if after is None else after[0],
        "after_s": None if after is None else after[1],
        "limit": limit + 1,
    }
    if not params["ids"]:
        return [], False
    async with storage.connection("reading a page of readings") as conn:
        cursor = await conn.execute(_PAGE[order], params)
        rows = await cursor.fetchall()
    more = len(rows) > limit
    return [Row(sid, t.astimezone(UTC), v, q) for sid, t, v, q in rows[:limit]], more


async def export(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    *,
    order: Order = "asc",
) -> AsyncIterator[list[Row]]:
    """Every reading of the window, in chunks, through a server-side cursor."""
    params = _windows(series, start, end)
    if not params["ids"]:
        return
    async with (
        storage.connection("exporting readings") as conn,
        conn.cursor(name="shanshui_export") as cursor,
    ):
        await cursor.execute(_EXPORT[order], params)
        while True:
            rows = await cursor.fetchmany(EXPORT_FETCH_ROWS)
            if not rows:
                break
            yield [Row(sid, t.astimezone(UTC), v, q) for sid, t, v, q in rows]


async def aggregate(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    bucket: str,
) -> list[Bucket]:
    """avg/min/max/count of valid readings per series and bucket (see :data:`BUCKETS`)."""
    size = BUCKETS[bucket]
    params = _windows(series, start, end)
    if not params["ids"]:
        return []
    if isinstance(size, timedelta):
        origins = [_local_origin(tz) for tz in params["tzs"]]
        query, extra = _AGGREGATE_FIXED, {"step": size, "origins": origins}
    else:
        query, extra = _AGGREGATE_CALENDAR, {"unit": size}
    async with storage.connection("aggregating readings") as conn:
        cursor = await conn.execute(query, {**params, **extra})
        rows = await cursor.fetchall()
    return [
        Bucket(sid, b.astimezone(UTC), avg, low, high, count)
        for sid, b, avg, low, high, count in rows
    ]


@cache
def _local_origin(time_zone: str) -> datetime:
    """2000-01-01 00:00 local time in ``time_zone``, where fixed buckets are aligned."""
    return datetime(2000, 1, 1, tzinfo=ZoneInfo(time_zone)).astimezone(UTC)


async def latest(storage: Storage, series: Sequence[VisibleSeries]) -> list[Row]:
    """The newest reading of each series, inside its windows; series without one are left out."""
    ids, los, his = [], [], []
    for one in series:
        for lo, hi in one.windows:
            ids.append(one.id)
            los.append(lo)
            his.append(hi)
    if not ids:
        return []
    async with storage.connection("reading the latest values") as conn:
        cursor = await conn.execute(_LATEST, {"ids": ids, "los": los, "his": his})
        rows = await cursor.fetchall()
    return [Row(sid, t.astimezone(UTC), v, q) for sid, t, v, q in rows]
