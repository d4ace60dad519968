"""``BatchIngest``: verified batches into ``ingested_batches``, devices, series, readings.

Layer: storage (SQL over the pool of :class:`cloud.storage.pool.PooledStorage`).
It takes verified :class:`wire.Batch` objects; it must not know about MQTT,
signatures or the wire envelope.

Ingest is idempotent twice over: ``ingested_batches`` (gateway, seq) makes a
replayed batch a no-op, and readings are inserted with ``ON CONFLICT (series_id,
time) DO NOTHING`` so overlapping batches never duplicate a reading. Rows are
inserted in a stable order (sorted devices, series, times) so that concurrent
workers take row locks in the same order and do not deadlock each other.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

from cloud.errors import (
    SeqReusedError,
    StorageUnavailableError,
    UnknownGatewayError,
    UnknownQuantityError,
)
from cloud.storage.models import StoreResult
from cloud.storage.pool import PooledStorage, scalar
from device_profiles import Quantity
from wire import Batch, Reading, encode_batch

_INSERT_BATCH = """
INSERT INTO ingested_batches (gateway_id, seq, reading_count, source, digest, first_ms, last_ms)
VALUES (%(gw)s, %(seq)s, %(count)s, %(source)s, %(digest)s, %(first_ms)s, %(last_ms)s)
ON CONFLICT (gateway_id, seq) DO NOTHING
"""

_PRUNE_BATCHES = "DELETE FROM ingested_batches WHERE received_at < %(before)s"

_BATCH_DIGEST = """
SELECT digest FROM ingested_batches WHERE gateway_id = %(gw)s AND seq = %(seq)s
"""

_UPSERT_DEVICES = """
INSERT INTO devices (gateway_id, name)
SELECT %(gw)s, name FROM unnest(%(names)s::text[]) AS name ORDER BY name
ON CONFLICT (gateway_id, name) DO NOTHING
"""

_UPSERT_SERIES = """
INSERT INTO series (device_id, quantity, unit, site_id)
SELECT d.id, p.quantity, p.unit, g.site_id
FROM unnest(%(devices)s::text[], %(quantities)s::text[], %(units)s::text[])
     AS p (device, quantity, unit)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = p.device
JOIN gateways g ON g.id = d.gateway_id
ORDER BY d.id, p.quantity
ON CONFLICT (device_id, quantity) DO NOTHING
"""

_SERIES_IDS = """
SELECT d.name, s.quantity, s.id
FROM unnest(%(devices)s::text[], %(quantities)s::text[]) AS p (device, quantity)
JOIN devices d ON d.gateway_id = %(gw)s AND d.name = p.device
JOIN series s ON s.device_id = d.id AND s.quantity = p.quantity
"""

# Measured (bench/b_ingest.py) against COPY into a temporary staging table then one
# INSERT ... SELECT ... ON CONFLICT: with the series ids known, one INSERT from
# unnest() of four arrays is faster (the staging table costs a second write of
# every row) and it runs at about the speed of a plain COPY into readings.
_INSERT_READINGS = """
INSERT INTO readings (time, series_id, value, quality)
SELECT 'epoch'::timestamptz + r.time_ms * interval '1 millisecond', r.series_id, r.value, r.quality
FROM unnest(%(series)s::bigint[], %(times)s::bigint[], %(values)s::float8[], %(qualities)s::text[])
     AS r (series_id, time_ms, value, quality)
ON CONFLICT (series_id, time) DO NOTHING
"""

# Means of thinned readings (rare): marked beside the readings, in the same transaction
_INSERT_MEANS = """
INSERT INTO reading_means (series_id, time, mean_of)
SELECT r.series_id, 'epoch'::timestamptz + r.time_ms * interval '1 millisecond', r.mean_of
FROM unnest(%(series)s::bigint[], %(times)s::bigint[], %(means)s::integer[])
     AS r (series_id, time_ms, mean_of)
ON CONFLICT (series_id, time) DO NOTHING
"""

# Plain PostgreSQL keeps the rollup tables of migration 0006 current here, in the
# batch's transaction: the readings actually inserted (a replayed reading is not
# RETURNed) are added to their hour and day. Adding deltas under the row lock of
# ON CONFLICT DO UPDATE stays right when workers touch one bucket concurrently,
# where recomputing a bucket from a snapshot would lose the other's rows.
_ADD_TO_ROLLUP = """
{name} AS (
    INSERT INTO {table} AS t
        (series_id, bucket, reading_count, valid_count, value_sum, value_min, value_max)
    SELECT series_id, date_bin(INTERVAL '{width}', time, TIMESTAMPTZ '1970-01-01 00:00+00'),
           count(*), count(*) FILTER (WHERE quality = 'N'),
           sum(value) FILTER (WHERE quality = 'N'),
           min(value) FILTER (WHERE quality = 'N'),
           max(value) FILTER (WHERE quality = 'N')
    FROM new
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (series_id, bucket) DO UPDATE SET
        reading_count = t.reading_count + EXCLUDED.reading_count,
        valid_count = t.valid_count + EXCLUDED.valid_count,
        value_sum = coalesce(t.value_sum + EXCLUDED.value_sum, t.value_sum, EXCLUDED.value_sum),
        value_min = least(t.value_min, EXCLUDED.value_min),
        value_max = greatest(t.value_max, EXCLUDED.value_max)
)"""

_INSERT_READINGS_AND_ROLLUPS = f"""
WITH new AS (
    {_INSERT_READINGS}
    RETURNING series_id, time, value, quality
),
{_ADD_TO_ROLLUP.format(name="hourly", table="readings_1h", width="1 hour")},
{_ADD_TO_ROLLUP.format(name="daily", table="readings_1d", width="1 day")}
SELECT count(*) FROM new
"""  # noqa: S608 - composed of this module's constants only

# 'r': a table kept by us (plain PostgreSQL); 'v': a continuous aggregate's view
_ROLLUPS_ARE_TABLES = """
SELECT coalesce((SELECT relkind = 'r' FROM pg_class WHERE oid = to_regclass('readings_1h')), false)
"""


# Series ids known to this worker: (gateway, device, quantity) -> series id. Bounded
# by clearing when full; a series deleted by an operator is noticed by the foreign key.
MAX_CACHED_SERIES = 200_000

SeriesKey = tuple[str, str, str]


class BatchIngest(PooledStorage):
    """Store verified batches exactly once.

    Subclasses set ``_quantities``, the vocabulary that gives each quantity its unit.
    """

    _quantities: dict[str, Quantity]
    _rollup_tables: bool | None = None  # learnt from the database on first use
    _series_cache: dict[SeriesKey, int]

    async def store_batch(
        self, batch: Batch, source: str, *, digest: bytes | None = None
    ) -> StoreResult:
        """Store a verified batch exactly once, in one transaction.

        Args:
            batch: a batch whose signature has been verified.
            source: where it came from (e.g. the MQTT topic), kept for audit.
            digest: SHA-256 of the batch as the gateway sent it, which tells a replay
                (same digest) from a reused seq; default: of ``batch`` as encoded now.

        Returns:
            How many readings were written, and whether the batch was a replay.

        Raises:
            UnknownQuantityError: a reading names a quantity outside the vocabulary;
                nothing is stored.
            UnknownGatewayError: the gateway is not registered.
            SeqReusedError: this (gateway, seq) was stored with other content.
            StorageUnavailableError: the database failed transiently; retry.
        """
        readings = sorted(batch.readings, key=lambda r: (r.device, r.quantity, r.time_ms))
        units = self._units(batch)
        head = {
            "gw": batch.gateway_id,
            "seq": batch.seq,
            "count": len(readings),
            "source": source,
            "digest": digest or hashlib.sha256(encode_batch(batch)).digest(),
            # the span the alarm evaluator reads back (cloud/migrations/0080_alarm_feed.sql)
            "first_ms": min((r.time_ms for r in readings), default=None),
            "last_ms": max((r.time_ms for r in readings), default=None),
        }
        async with self._connection("storing a batch") as conn:
            try:
                cursor = await conn.execute(_INSERT_BATCH, head)
            except psycopg.errors.ForeignKeyViolation:
                raise UnknownGatewayError(batch.gateway_id) from None
            if cursor.rowcount == 0:
                stored = await scalar(conn, _BATCH_DIGEST, head)
                if stored is not None and bytes(stored) != head["digest"]:
                    raise SeqReusedError(batch.gateway_id, batch.seq)
                return StoreResult(stored=0, duplicate=True)
            if not readings:
                return StoreResult(stored=0, duplicate=False)
            if self._rollup_tables is None:
                self._rollup_tables = bool(await scalar(conn, _ROLLUPS_ARE_TABLES, {}))
            ids = await self._series_ids(conn, batch.gateway_id, readings, units)
            gw = batch.gateway_id
            series = [ids[(gw, r.device, r.quantity)] for r in readings]
            params = {
                "series": series,
                "times": [r.time_ms for r in readings],
                "values": [float(r.value) for r in readings],
                "qualities": [r.quality.value for r in readings],
            }
            insert = _INSERT_READINGS_AND_ROLLUPS if self._rollup_tables else _INSERT_READINGS
            try:
                cursor = await conn.execute(insert, params)
            except psycopg.errors.ForeignKeyViolation as exc:
                self._series_cache.clear()  # a series was deleted since we cached its id
                raise StorageUnavailableError(f"storing a batch: {exc}; retrying") from None
            row = await cursor.fetchone() if self._rollup_tables else None
            stored = int(row[0]) if row is not None else max(cursor.rowcount, 0)
            means = [(s, r) for s, r in zip(series, readings, strict=True) if r.thinned]
            if means:
                marks = {
                    "series": [s for s, _ in means],
                    "times": [r.time_ms for _, r in means],
                    "means": [r.mean_of for _, r in means],
                }
                await conn.execute(_INSERT_MEANS, marks)
        self._remember(ids)  # only once committed: a rolled-back series has no id
        return StoreResult(stored=stored, duplicate=False)

    async def _series_ids(
        self,
        conn: AsyncConnection[Any],
        gateway_id: str,
        readings: list[Reading],
        units: dict[str, str],
    ) -> dict[SeriesKey, int]:
        """Ids of the batch's series, from the cache or created and looked up in ``conn``."""
        keys = {(gateway_id, r.device, r.quantity) for r in readings}
        ids = {key: self._series_cache[key] for key in keys if key in self._series_cache}
        missing = sorted(keys - ids.keys())
        if not missing:
            return ids
        devices = [d for _, d, _ in missing]
        quantities = [q for _, _, q in missing]
        async with conn.pipeline():
            await conn.execute(_UPSERT_DEVICES, {"gw": gateway_id, "names": sorted(set(devices))})
            await conn.execute(
                _UPSERT_SERIES,
                {
                    "gw": gateway_id,
                    "devices": devices,
                    "quantities": quantities,
                    "units": [units[q] for q in quantities],
                },
            )
            cursor = await conn.execute(
                _SERIES_IDS, {"gw": gateway_id, "devices": devices, "quantities": quantities}
            )
        for device, quantity, series_id in await cursor.fetchall():
            ids[(gateway_id, device, quantity)] = int(series_id)
        return ids

    async def prune_ingested_batches(self, before: datetime) -> int:
        """Forget batches received before ``before``; return how many.

        The (gateway, seq) log is what recognises a replayed batch cheaply and a
        reused seq at all. After pruning, a replay older than ``before`` is stored
        again as a new batch, which writes no reading twice (readings are unique
        on series and time); a seq reused after that long is no longer detected.
        """
        async with self._connection("pruning the batch log") as conn:
            cursor = await conn.execute(_PRUNE_BATCHES, {"before": before})
            return max(cursor.rowcount, 0)

    def _remember(self, ids: dict[SeriesKey, int]) -> None:
        if len(self._series_cache) + len(ids) > MAX_CACHED_SERIES:
            self._series_cache.clear()
        self._series_cache.update(ids)

    def _units(self, batch: Batch) -> dict[str, str]:
        units: dict[str, str] = {}
        for reading in batch.readings:
            if reading.quantity not in units:
                known = self._quantities.get(reading.quantity)
                if known is None:
                    raise UnknownQuantityError(reading.quantity)
                units[reading.quantity] = known.unit
        return units
