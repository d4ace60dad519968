"""Bureau queries on >= 10 million readings: raw day, 30 days hourly, daily AQI of 100 stations.

Loads 100 air stations x 3 pollutants of 1-minute readings over 30 days (12.96 M
readings) into a fresh database, then times, through the storage layer the API
uses (scope resolution included, platform-admin scope):

* 24 h of 1-minute readings of one series (one page of 1440 rows);
* 30 days of hourly aggregates of one series (720 buckets from 43 200 readings);
* the daily AQI (HJ 633-2012) of 100 stations for one local day (hourly means of
  300 series, then the standard).

Aggregates over whole hours come from the hourly rollups (``readings_1h``), as in
the API; the load fills them as ingest would (a refresh on TimescaleDB).

Plain PostgreSQL: the embedded server, or SHANSHUI_BENCH_DATABASE_URL (a server
where a database may be created). TimescaleDB too when SHANSHUI_BENCH_TIMESCALE_URL
is set (e.g. a cluster of .ci/timescaledb-cluster). SHANSHUI_BENCH_DAYS shrinks the
data for a quick look.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg

from cloud.embedded.postgres import EmbeddedPostgres
from cloud.migrate import migrate
from cloud.standards.aqi_reports import daily_report
from cloud.storage import Storage, queries
from cloud.storage.access import Scope, SeriesFilter, visible_series
from cloud.storage.admin import drop_database, ensure_database, hypertables
from cloud.storage.aggregates import aggregate
from cloud.storage.sites import SiteAttributes, add_site
from wire import Batch, Quality, Reading

STATIONS = 100
POLLUTANTS = ("pm2_5", "pm10", "o3")
DAYS = int(os.environ.get("SHANSHUI_BENCH_DAYS", "30"))
END = datetime(2026, 5, 1, 16, tzinfo=UTC)  # 2 May 00:00 in Shanghai
RUNS = 40
ADMIN = Scope(tenant_id=None)
BENCH_DB = "shanshui_bench_queries"

# Bench data only: one INSERT ... SELECT per series, a smooth daily cycle plus noise.
_LOAD = """
INSERT INTO readings (time, series_id, value, quality)
SELECT t, %(series)s, greatest(0, 60 + 30 * sin(extract(epoch FROM t) / 13751) + random() * 10), 'N'
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 minute',
                     interval '1 minute') AS t
ON CONFLICT DO NOTHING
"""

_ROLL_UP = """
INSERT INTO readings_1h
SELECT series_id, date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00+00'),
       count(*), count(*) FILTER (WHERE quality = 'N'), sum(value) FILTER (WHERE quality = 'N'),
       min(value) FILTER (WHERE quality = 'N'), max(value) FILTER (WHERE quality = 'N')
FROM readings GROUP BY 1, 2
ON CONFLICT (series_id, bucket) DO UPDATE SET reading_count = EXCLUDED.reading_count,
    valid_count = EXCLUDED.valid_count, value_sum = EXCLUDED.value_sum,
    value_min = EXCLUDED.value_min, value_max = EXCLUDED.value_max
"""


async def _load(conninfo: str) -> int:
    start = END - timedelta(days=DAYS)
    async with Storage(conninfo, plaintext_secrets=True) as storage:
        for n in range(STATIONS):
            site = f"station-{n:03d}"
            await add_site(
                storage, "default", site, SiteAttributes(monitoring_type="air"), new_tenant=False
            )
            gateway = f"gw-{n:03d}"
            await storage.register_gateway(gateway, site=site)
            first = int(start.timestamp() * 1000)
            readings = tuple(Reading("aq", q, first, 1.0, Quality.NORMAL) for q in POLLUTANTS)
            await storage.store_batch(Batch(gateway, 1, readings), "bench")
        series = await visible_series(storage, ADMIN, SeriesFilter())
    began = time.perf_counter()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for one in series:
            conn.execute(_LOAD, {"series": one.id, "start": start, "end": END})
        # the ingest path keeps the hourly rollups; bulk-loaded rows are rolled up here
        if "readings" in hypertables(conninfo):
            conn.execute("CALL refresh_continuous_aggregate('readings_1h', NULL, NULL)")
        else:
            conn.execute(_ROLL_UP)
        conn.execute("VACUUM ANALYZE readings")
        total = conn.execute("SELECT count(*) FROM readings").fetchone()
    count = int(total[0]) if total else 0
    print(
        f"  loaded {count:,} readings ({len(series)} series x {DAYS} days of 1-minute data) "
        f"in {time.perf_counter() - began:.0f} s"
    )
    return count


async def _time(label: str, run: Callable[[Storage], Awaitable[object]], storage: Storage) -> None:
    await run(storage)  # warm the cache: the figures are for a server in steady use
    took = []
    for _ in range(RUNS):
        began = time.perf_counter()
        await run(storage)
        took.append((time.perf_counter() - began) * 1000)
    cuts = statistics.quantiles(took, n=20)
    print(f"  {label:<46} p50 {statistics.median(took):7.1f} ms   p95 {cuts[18]:7.1f} ms")


async def _raw_day(storage: Storage) -> None:
    station = f"gw-{random.randrange(STATIONS):03d}"
    series = await visible_series(
        storage, ADMIN, SeriesFilter(gateway=station, quantities=("pm2_5",))
    )
    rows, _ = await queries.page(storage, series, END - timedelta(days=1), END, limit=1440)
    assert len(rows) == 1440, len(rows)


async def _hourly_30_days(storage: Storage) -> None:
    station = f"gw-{random.randrange(STATIONS):03d}"
    series = await visible_series(
        storage, ADMIN, SeriesFilter(gateway=station, quantities=("pm2_5",))
    )
    buckets = await aggregate(storage, series, END - timedelta(days=DAYS), END, "1h")
    assert len(buckets) == DAYS * 24, len(buckets)


async def _daily_aqi(storage: Storage) -> None:
    series = await visible_series(storage, ADMIN, SeriesFilter(quantities=POLLUTANTS))
    start = END - timedelta(days=1)
    buckets = await aggregate(storage, series, start, END, "1h")
    by_id = {s.id: s for s in series}
    hourly: dict[int | None, dict[str, list[float | None]]] = {}
    for bucket in buckets:
        one = by_id[bucket.series_id]
        hours = hourly.setdefault(one.site_id, {}).setdefault(one.quantity, [None] * 24)
        hours[int((bucket.start - start) // timedelta(hours=1))] = bucket.avg
    reports = [daily_report(day) for day in hourly.values()]
    assert len(reports) == STATIONS
    assert all(r.result is not None for r in reports)


async def _bench(conninfo: str) -> None:
    async with Storage(conninfo, max_size=2, plaintext_secrets=True) as storage:
        await _time("24 h of 1-minute readings, one series", _raw_day, storage)
        await _time(f"{DAYS} days of hourly aggregates, one series", _hourly_30_days, storage)
        await _time(f"daily AQI of {STATIONS} stations (one day)", _daily_aqi, storage)


def _on(server_url: str, what: str) -> None:
    drop_database(server_url, BENCH_DB)
    conninfo = ensure_database(server_url, BENCH_DB)
    try:
        migrate(conninfo)
        kind = "TimescaleDB hypertable" if "readings" in hypertables(conninfo) else "plain table"
        print(f" {what} (readings: {kind})")
        asyncio.run(_load(conninfo))
        asyncio.run(_bench(conninfo))
    finally:
        drop_database(server_url, BENCH_DB)


def run() -> None:
    """Print p50/p95 latencies on plain PostgreSQL, and on TimescaleDB when configured."""
    random.seed(date(2026, 5, 1).toordinal())
    server = os.environ.get("SHANSHUI_BENCH_DATABASE_URL")
    if server:
        _on(server, "PostgreSQL")
    else:
        with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp)) as embedded:
            _on(embedded.url(), "PostgreSQL (embedded)")
    timescale = os.environ.get("SHANSHUI_BENCH_TIMESCALE_URL")
    if timescale:
        _on(timescale, "TimescaleDB")
    else:
        print(" TimescaleDB: skipped (set SHANSHUI_BENCH_TIMESCALE_URL)")
