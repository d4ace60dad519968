"""Reading queries over series already resolved in scope: pages, exports, latest values.

Layer: storage. Every function takes :class:`cloud.storage.access.VisibleSeries`
(from :func:`cloud.storage.access.visible_series`), so what a caller may see is
decided once, and each series is read only inside its windows. Pages use keyset
pagination on ``(time, series_id)``; exports stream through a server-side cursor
and never hold the result in memory. Bucketed aggregates are in
:mod:`cloud.storage.aggregates`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cloud.storage.access import VisibleSeries, clip
from cloud.storage.store import Storage

Order = Literal["asc", "desc"]
EXPORT_FETCH_ROWS = 5000


@dataclass(frozen=True, slots=True)
class Row:
    """One reading of a series (by id)."""

    series_id: int
    time: datetime
    value: float
    quality: str
    mean_of: int | None = None  # a mean of this many raw readings (thinned); None: raw


_WINDOWS = (
    "unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[]) AS w(id, lo, hi)"
)

# reading_means holds a row only for a mean a gateway's full outbox thinned (rare)
_MEANS = "LEFT JOIN reading_means m ON m.series_id = r.series_id AND m.time = r.time"

_PAGE = {
    order: f"""
SELECT r.series_id, r.time, r.value, r.quality, m.mean_of
FROM {_WINDOWS}
JOIN readings r ON r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi
{_MEANS}
WHERE %(after_t)s::timestamptz IS NULL
   OR (r.time, r.series_id) {op} (%(after_t)s::timestamptz, %(after_s)s::bigint)
ORDER BY r.time {order}, r.series_id {order}
LIMIT %(limit)s
"""
    for order, op in (("asc", ">"), ("desc", "<"))
}

_EXPORT = {
    order: f"""
SELECT r.series_id, r.time, r.value, r.quality, m.mean_of
FROM {_WINDOWS}
JOIN readings r ON r.series_id = w.id AND r.time >= w.lo AND r.time < w.hi
{_MEANS}
ORDER BY r.time {order}, r.series_id {order}
"""
    for order in ("asc", "desc")
}

_LATEST = f"""
SELECT DISTINCT ON (w.id) w.id, r.time, r.value, r.quality, m.mean_of
FROM unnest(%(ids)s::bigint[], %(los)s::timestamptz[], %(his)s::timestamptz[]) AS w(id, lo, hi)
JOIN LATERAL (
    SELECT time, value, quality FROM readings
    WHERE series_id = w.id
      AND time >= coalesce(w.lo, '-infinity') AND time < coalesce(w.hi, 'infinity')
    ORDER BY time DESC
    LIMIT 1
) AS r ON true
{_MEANS.replace("r.series_id", "w.id")}
ORDER BY w.id, r.time DESC
"""


def windows(
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
    params = windows(series, start, end) | {
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
    return [Row(sid, t.astimezone(UTC), v, q, n) for sid, t, v, q, n in rows[:limit]], more


async def export(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    *,
    order: Order = "asc",
) -> AsyncIterator[list[Row]]:
    """Every reading of the window, in chunks, through a server-side cursor."""
    params = windows(series, start, end)
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
            yield [Row(sid, t.astimezone(UTC), v, q, n) for sid, t, v, q, n in rows]


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
    return [Row(sid, t.astimezone(UTC), v, q, n) for sid, t, v, q, n in rows]
