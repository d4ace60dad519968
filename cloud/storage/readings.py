"""``ReadingQueries``: reading back stored readings, per series and newest per gateway.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
Read-only; the same queries serve plain PostgreSQL and TimescaleDB.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cloud.errors import SeriesNotFoundError
from cloud.storage.models import LatestReading, SeriesReadings, StoredReading
from cloud.storage.pool import PooledStorage, utc

_FIND_SERIES = """
SELECT s.id, s.unit
FROM devices d JOIN series s ON s.device_id = d.id
WHERE d.gateway_id = %(gw)s AND d.name = %(device)s AND s.quantity = %(quantity)s
"""

_SELECT_READINGS = """
SELECT time, value, quality
FROM readings
WHERE series_id = %(series_id)s AND time >= %(start)s AND time < %(end)s
ORDER BY time
LIMIT %(limit)s
"""

_LATEST = """
SELECT d.name, s.quantity, s.unit, r.time, r.value, r.quality
FROM devices d
JOIN series s ON s.device_id = d.id
JOIN LATERAL (
    SELECT time, value, quality FROM readings
    WHERE series_id = s.id
    ORDER BY time DESC
    LIMIT 1
) AS r ON true
WHERE d.gateway_id = %(gw)s
ORDER BY d.name, s.quantity
"""


class ReadingQueries(PooledStorage):
    """Raw readings of one series, and the newest reading of each series of a gateway."""

    async def readings(
        self,
        gateway_id: str,
        device: str,
        quantity: str,
        *,
        start: datetime,
        end: datetime,
        limit: int = 1000,
    ) -> SeriesReadings:
        """Readings of one series with ``start <= time < end``, oldest first, at most ``limit``.

        Raises:
            SeriesNotFoundError: the gateway has no such device or quantity.
        """
        async with self._connection("reading a series") as conn:
            series_id, unit = await find_series(conn, gateway_id, device, quantity)
            window = {"series_id": series_id, "start": start, "end": end, "limit": limit}
            cursor = await conn.execute(_SELECT_READINGS, window)
            rows = await cursor.fetchall()
        return SeriesReadings(
            gateway_id=gateway_id,
            device=device,
            quantity=quantity,
            unit=unit,
            readings=[StoredReading(utc(t), v, q) for t, v, q in rows],
        )

    async def latest(self, gateway_id: str) -> list[LatestReading]:
        """The newest reading of every series of a gateway, by device then quantity.

        Raises:
            UnknownGatewayError: no such gateway.
        """
        rows = await self._gateway_rows("reading the latest values", _LATEST, gateway_id)
        return [
            LatestReading(device, quantity, unit, StoredReading(utc(t), v, q))
            for device, quantity, unit, t, v, q in rows
        ]


async def find_series(
    conn: AsyncConnection[Any], gateway_id: str, device: str, quantity: str
) -> tuple[int, str]:
    """The id and unit of a gateway's series.

    Raises:
        SeriesNotFoundError: the gateway has no such device or quantity.
    """
    key = {"gw": gateway_id, "device": device, "quantity": quantity}
    cursor = await conn.execute(_FIND_SERIES, key)
    found = await cursor.fetchone()
    if found is None:
        raise SeriesNotFoundError(gateway_id, device, quantity)
    return int(found[0]), str(found[1])
