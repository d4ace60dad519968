"""Hourly and daily rollups equal the raw readings' aggregates, on both databases."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from pydantic import ValidationError

from cloud.errors import ConfigError
from cloud.settings import Settings
from cloud.storage import DAILY, HOURLY, Rollup, Storage
from cloud.storage.policies import configure_policies, jobs
from cloud.storage.rollup_zone import check_rollup_zone, configure_rollup_zone, rollup_zone
from tests.cloud.helpers import EVER, make_batch, now_ms
from tests.fix_db import TIMESCALEDB
from wire import Batch, Quality, Reading

pytestmark = pytest.mark.anyio

T0 = 1_780_000_000_000  # 2026-05-28T20:26:40Z
MINUTE_MS = 60_000

# UTC hours, and days of the database's rollup zone (migration 0070)
_HOUR = "date_bin(INTERVAL '1 hour', time, TIMESTAMPTZ '1970-01-01 00:00+00')"
_LOCAL_DAY = "date_trunc('day', time, (SELECT time_zone FROM rollup_zone))"
_RAW = """
SELECT {bucket} AS bucket,
       avg(value) FILTER (WHERE quality = 'N'), min(value) FILTER (WHERE quality = 'N'),
       max(value) FILTER (WHERE quality = 'N'), count(*), count(*) FILTER (WHERE quality = 'N')
FROM readings GROUP BY 1 ORDER BY 1
"""


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("gw-1")
        yield opened


def _mixed_batch(seq: int, start_ms: int, count: int) -> Batch:
    """One reading a minute; every fifth one flagged as maintenance (not valid)."""
    readings = tuple(
        Reading(
            "th1",
            "air_temperature",
            start_ms + i * MINUTE_MS,
            20.0 + (i * 7 % 13) / 4,
            Quality.MAINTENANCE if i % 5 == 0 else Quality.NORMAL,
        )
        for i in range(count)
    )
    return Batch("gw-1", seq, readings)


def _run_refresh_jobs(url: str) -> None:
    """What TimescaleDB's scheduler does in production: hourly refresh, then daily."""
    refreshes = [j for j in jobs(url) if j.proc_name == "policy_refresh_continuous_aggregate"]
    order = {"readings_1h": 0, "readings_1d": 1}
    with psycopg.connect(url, autocommit=True) as conn:
        for job in sorted(refreshes, key=lambda j: order[j.relation]):
            conn.execute("CALL run_job(%s)", [job.job_id])


def _raw(url: str, bucket: str) -> list[Rollup]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(_RAW.format(bucket=bucket)).fetchall()
    return [Rollup(b.astimezone(UTC), m, lo, hi, n, v) for b, m, lo, hi, n, v in rows]


async def _assert_rollups_match_raw(storage: Storage, url: str) -> None:
    for period, bucket in ((HOURLY, _HOUR), (DAILY, _LOCAL_DAY)):
        got = await storage.rollups(
            "gw-1", "th1", "air_temperature", period=period, start=EVER[0], end=EVER[1]
        )
        expected = _raw(url, bucket)
        assert [r.bucket for r in got.rollups] == [r.bucket for r in expected], period
        for mine, raw in zip(got.rollups, expected, strict=True):
            assert (mine.count, mine.valid_count) == (raw.count, raw.valid_count)
            assert (mine.minimum, mine.maximum) == (raw.minimum, raw.maximum)
            assert mine.mean == pytest.approx(raw.mean)


async def test_rollups_equal_the_raw_aggregates_also_after_a_late_backfill(
    storage: Storage, migrated_database_url: str
) -> None:
    await storage.store_batch(_mixed_batch(1, T0, 300), "t")  # five hours
    _run_refresh_jobs(migrated_database_url)
    await _assert_rollups_match_raw(storage, migrated_database_url)

    # A gateway back from an outage delivers older readings, into buckets that
    # already have rows and into new ones, plus a replay of what is stored.
    await storage.store_batch(_mixed_batch(2, T0 - 90 * MINUTE_MS, 120), "t")
    await storage.store_batch(_mixed_batch(3, T0 + 30 * MINUTE_MS + 30_000, 60), "t")
    await storage.store_batch(_mixed_batch(4, T0, 300), "t")  # other seq, same readings
    _run_refresh_jobs(migrated_database_url)
    await _assert_rollups_match_raw(storage, migrated_database_url)


async def test_daily_rollups_are_local_days_of_the_rollup_zone_also_after_a_backfill(
    storage: Storage, migrated_database_url: str
) -> None:
    url = migrated_database_url
    assert rollup_zone(url) == "UTC"  # what migration 0070 records for existing databases
    # 14:00-19:00 UTC: Beijing midnight (16:00 UTC) falls inside
    start = T0 - (T0 % (24 * 60 * MINUTE_MS)) + 14 * 60 * MINUTE_MS
    await storage.store_batch(_mixed_batch(1, start, 300), "t")
    _run_refresh_jobs(url)
    assert configure_rollup_zone(url, "Asia/Shanghai")  # rebuilt from the hourly rollups
    assert not configure_rollup_zone(url, "Asia/Shanghai")  # already so
    assert rollup_zone(url) == "Asia/Shanghai"
    _run_refresh_jobs(url)
    await _assert_rollups_match_raw(storage, url)
    daily = await storage.rollups(
        "gw-1", "th1", "air_temperature", period=DAILY, start=EVER[0], end=EVER[1]
    )
    midnight = datetime(2026, 5, 28, 16, tzinfo=UTC)  # 2026-05-29 00:00 in Beijing
    assert [r.bucket for r in daily.rollups] == [midnight - timedelta(days=1), midnight]
    assert [r.count for r in daily.rollups] == [120, 180]

    # late readings of both local days, and a replay, after the change
    await storage.store_batch(_mixed_batch(2, start - 120 * MINUTE_MS, 100), "t")
    await storage.store_batch(_mixed_batch(3, start + 250 * MINUTE_MS + 30_000, 100), "t")
    await storage.store_batch(_mixed_batch(4, start, 300), "t")
    _run_refresh_jobs(url)
    await _assert_rollups_match_raw(storage, url)

    assert configure_rollup_zone(url, "UTC")  # and back: UTC days again
    _run_refresh_jobs(url)
    await _assert_rollups_match_raw(storage, url)


def test_a_rollup_zone_off_the_hour_or_unknown_is_refused(migrated_database_url: str) -> None:
    assert check_rollup_zone("Asia/Shanghai") == "Asia/Shanghai"
    with pytest.raises(ConfigError, match="whole number of hours"):
        configure_rollup_zone(migrated_database_url, "Asia/Kolkata")  # UTC+5:30
    with pytest.raises(ConfigError, match="not an IANA time zone"):
        configure_rollup_zone(migrated_database_url, "Mars/Olympus")
    with pytest.raises(ValidationError, match="rollup_time_zone"):
        Settings(rollup_time_zone="Asia/Kathmandu")
    assert rollup_zone(migrated_database_url) == "UTC"


async def test_the_current_hour_is_in_the_rollups_before_any_refresh(
    storage: Storage, migrated_database_url: str
) -> None:
    await storage.store_batch(_mixed_batch(1, T0, 60), "t")
    _run_refresh_jobs(migrated_database_url)  # materialised up to an hour ago
    await storage.store_batch(make_batch("gw-1", 2, [10.0, 20.0], start_ms=now_ms()), "t")
    for period in (HOURLY, DAILY):
        got = await storage.rollups(
            "gw-1", "th1", "air_temperature", period=period, start=EVER[0], end=EVER[1]
        )
        assert sum(r.count for r in got.rollups) == 62, period
        assert got.rollups[-1].maximum == 20.0
    assert got.unit == "°C"


async def test_rollups_without_valid_readings_have_no_mean(storage: Storage) -> None:
    batch = make_batch("gw-1", 1, [1.0, 2.0], start_ms=T0, quality=Quality.FAULT)
    await storage.store_batch(batch, "t")
    got = await storage.rollups(
        "gw-1", "th1", "air_temperature", period=DAILY, start=EVER[0], end=EVER[1]
    )
    [day] = got.rollups
    assert (day.mean, day.minimum, day.maximum, day.count, day.valid_share) == (
        None,
        None,
        None,
        2,
        0.0,
    )


async def test_an_unknown_period_is_refused(storage: Storage) -> None:
    with pytest.raises(ValueError, match="period"):
        await storage.rollups(
            "gw-1", "th1", "air_temperature", period="1w", start=EVER[0], end=EVER[1]
        )


def _count_and_sum(url: str) -> tuple[int, float]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*), sum(value) FROM readings").fetchone()
    assert row is not None
    return int(row[0]), float(row[1])


@pytest.mark.timescale
async def test_timescaledb_lists_the_rollups_and_policies_and_every_job_keeps_the_data(
    storage: Storage, migrated_database_url: str, db_flavour: str
) -> None:
    if db_flavour != TIMESCALEDB:
        pytest.skip("TimescaleDB only")
    url = migrated_database_url
    with psycopg.connect(url) as conn:
        views = conn.execute(
            "SELECT view_name::text, materialized_only"
            " FROM timescaledb_information.continuous_aggregates ORDER BY 1"
        ).fetchall()
    assert views == [("readings_1d", False), ("readings_1h", False)]
    procs = sorted((j.proc_name, j.relation) for j in jobs(url))
    assert procs == [
        ("policy_compression", "readings"),
        ("policy_refresh_continuous_aggregate", "readings_1d"),
        ("policy_refresh_continuous_aggregate", "readings_1h"),
    ]

    assert configure_policies(url, compress_after_days=3, retention_days=400)
    by_proc = {j.proc_name: j for j in jobs(url)}
    assert by_proc["policy_retention"].config["drop_after"] == "400 days"
    assert by_proc["policy_compression"].config["compress_after"] == "3 days"

    # Ten days of readings, a month old: old enough to compress, young enough to keep.
    month_ago_ms = now_ms() - 30 * 24 * 60 * MINUTE_MS
    for day in range(10):
        start = month_ago_ms + day * 24 * 60 * MINUTE_MS
        await storage.store_batch(_mixed_batch(day + 1, start, 120), "t")
    before = _count_and_sum(url)
    with psycopg.connect(url, autocommit=True) as conn:
        for job in sorted(jobs(url), key=lambda j: j.job_id):
            conn.execute("CALL run_job(%s)", [job.job_id])
        compressed = conn.execute(
            "SELECT count(*) FILTER (WHERE is_compressed) FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings'"
        ).fetchone()
    assert compressed is not None
    assert compressed[0] >= 10
    count, total = _count_and_sum(url)
    assert count == before[0]
    assert math.isclose(total, before[1])
    _run_refresh_jobs(url)
    await _assert_rollups_match_raw(storage, url)

    assert configure_policies(url, compress_after_days=3, retention_days=None)
    assert "policy_retention" not in {j.proc_name for j in jobs(url)}


async def test_plain_postgresql_has_no_policies(
    migrated_database_url: str, db_flavour: str
) -> None:
    expected = db_flavour == TIMESCALEDB
    assert configure_policies(migrated_database_url) is expected
