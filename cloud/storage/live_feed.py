"""What arrived lately: new batches, and the readings they brought, for the live channel.

Layer: storage, read-only. The live hub (:mod:`cloud.api.live_hub`) asks these two
questions once per tick for the whole process, whatever the number of open streams:

* :func:`new_batches`: batches received since a moment (the batch log's index on
  ``received_at``); an idle platform costs one index probe per tick.
* :func:`new_readings`: the readings of the gateways that sent those batches, after
  a cursor per series (the primary key ``(series_id, time)`` per series), so that a
  gateway whose batch arrives late does not lose readings to another gateway's newer
  ones; never from before ``floor`` (an outbox replay of hours is not news).
* :func:`newest_times`: where those cursors start, once, when the hub starts.

Scoping is not done here: the hub filters what each stream may see.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cloud.storage.store import Storage

_NEW_BATCHES = """
SELECT gateway_id, seq FROM ingested_batches
WHERE received_at > %(since)s
ORDER BY received_at
LIMIT %(limit)s
"""

_NEW_READINGS = """
SELECT s.id, d.gateway_id, r.time, r.value, r.quality, m.mean_of
FROM devices d
JOIN series s ON s.device_id = d.id
LEFT JOIN unnest(%(sids)s::bigint[], %(afters)s::timestamptz[]) AS c(id, t) ON c.id = s.id
CROSS JOIN LATERAL (
    SELECT r.time, r.value, r.quality FROM readings r
    WHERE r.series_id = s.id AND r.time > greatest(c.t, %(floor)s) AND r.time < %(until)s
    ORDER BY r.time
    LIMIT %(per_series)s
) AS r
LEFT JOIN reading_means m ON m.series_id = s.id AND m.time = r.time
WHERE d.gateway_id = ANY(%(gateways)s::text[])
ORDER BY r.time, s.id
"""


_NEWEST_TIMES = """
SELECT s.id, d.gateway_id, n.time
FROM devices d
JOIN series s ON s.device_id = d.id
CROSS JOIN LATERAL (
    SELECT r.time FROM readings r
    WHERE r.series_id = s.id AND r.time < %(until)s
    ORDER BY r.time DESC
    LIMIT 1
) AS n
"""


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One new reading, with the gateway it came from."""

    series_id: int
    gateway: str
    time: datetime
    value: float
    quality: str
    mean_of: int | None = None  # a mean of this many raw readings (thinned); None: raw


async def new_batches(storage: Storage, since: datetime, limit: int) -> list[tuple[str, int]]:
    """(gateway, seq) of batches received after ``since``, oldest first, at most ``limit``."""
    async with storage.connection("listing new batches") as conn:
        cursor = await conn.execute(_NEW_BATCHES, {"since": since, "limit": limit})
        return [(str(gateway), int(seq)) for gateway, seq in await cursor.fetchall()]


async def new_readings(
    storage: Storage,
    gateways: Collection[str],
    cursors: Mapping[int, datetime],
    *,
    floor: datetime,
    until: datetime,
    per_series: int,
) -> list[FeedRow]:
    """Readings of ``gateways``' series after each series' cursor and after ``floor``,
    before ``until``; at most ``per_series`` per series, ordered by time then series."""
    params = {
        "gateways": list(gateways),
        "sids": list(cursors),
        "afters": list(cursors.values()),
        "floor": floor,
        "until": until,
        "per_series": per_series,
    }
    async with storage.connection("reading new readings") as conn:
        cursor = await conn.execute(_NEW_READINGS, params)
        rows = await cursor.fetchall()
    return [
        FeedRow(int(sid), str(gateway), time.astimezone(UTC), float(value), str(quality), mean_of)
        for sid, gateway, time, value, quality, mean_of in rows
    ]


async def newest_times(storage: Storage, until: datetime) -> list[tuple[int, str, datetime]]:
    """(series, gateway, time of its newest reading before ``until``) of every series."""
    async with storage.connection("reading the newest reading of each series") as conn:
        cursor = await conn.execute(_NEWEST_TIMES, {"until": until})
        rows = await cursor.fetchall()
    return [(int(sid), str(gateway), time.astimezone(UTC)) for sid, gateway, time in rows]
