"""``RollupQueries``: hourly and daily rollups of a series, on TimescaleDB or without it.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
Read-only. ``readings_1h`` and ``readings_1d`` are continuous aggregates with
real-time aggregation on TimescaleDB and tables kept current by the ingest path
on plain PostgreSQL (migration 0006); both have the same columns, so the same
query serves both.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from cloud.storage.models import Rollup, SeriesRollups
from cloud.storage.pool import PooledStorage, utc
from cloud.storage.readings import find_series

HOURLY = "1h"
DAILY = "1d"
_RELATIONS = {HOURLY: "readings_1h", DAILY: "readings_1d"}

_SELECT_ROLLUPS = """
SELECT bucket, value_sum / nullif(valid_count, 0), value_min, value_max,
       reading_count, valid_count
FROM {relation}
WHERE series_id = %(series_id)s AND bucket >= %(start)s AND bucket < %(end)s
ORDER BY bucket
LIMIT %(limit)s
"""


class RollupQueries(PooledStorage):
    """Rollups of one series by hour or by day."""

    async def rollups(
        self,
        gateway_id: str,
        device: str,
        quantity: str,
        *,
        period: str,
        start: datetime,
        end: datetime,
        limit: int = 1000,
    ) -> SeriesRollups:
        """Rollups of one series whose bucket starts in ``[start, end)``, oldest first.

        Args:
            period: ``1h`` or ``1d`` (:data:`HOURLY`, :data:`DAILY`); buckets are UTC.
            start: earliest bucket start (inclusive).
            end: latest bucket start (exclusive).
            limit: at most this many buckets.

        Raises:
            ValueError: ``period`` is neither ``1h`` nor ``1d``.
            SeriesNotFoundError: the gateway has no such device or quantity.
        """
        relation = _RELATIONS.get(period)
        if relation is None:
            raise ValueError(f"period must be one of {', '.join(_RELATIONS)}, not {period!r}")
        query = sql.SQL(_SELECT_ROLLUPS).format(relation=sql.Identifier(relation))
        async with self._connection("reading rollups") as conn:
            series_id, unit = await find_series(conn, gateway_id, device, quantity)
            window = {"series_id": series_id, "start": start, "end": end, "limit": limit}
            cursor = await conn.execute(query, window)
            rows = await cursor.fetchall()
        return SeriesRollups(
            gateway_id=gateway_id,
            device=device,
            quantity=quantity,
            unit=unit,
            period=period,
            rollups=[
                Rollup(utc(bucket), mean, low, high, int(count), int(valid))
                for bucket, mean, low, high, count, valid in rows
            ],
        )
