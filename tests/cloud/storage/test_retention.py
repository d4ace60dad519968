"""Retention: old readings (plain PostgreSQL), batch log and dead letters deleted in chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from cloud.cli import app
from cloud.ingest.housekeeping import prune
from cloud.ingest.outcomes import IngestPolicy, Pruned
from cloud.storage import DAILY, HOURLY, Storage
from tests.cloud.helpers import EVER, all_readings, make_batch
from tests.fix_db import TIMESCALEDB
from wire import Batch, Reading

pytestmark = pytest.mark.anyio

DAY_MS = 86_400_000
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("gw-1")
        yield opened


async def _store_days(storage: Storage, days_ago: list[int]) -> None:
    """Three readings a day, 10 minutes apart, on each of those days before NOW."""
    for seq, ago in enumerate(days_ago, start=1):
        start = NOW_MS - ago * DAY_MS
        await storage.store_batch(
            make_batch("gw-1", seq, [1.0, 2.0, 3.0], start_ms=start, step_ms=600_000), "t"
        )


async def test_old_readings_go_in_chunks_and_their_rollups_stay(
    storage: Storage, db_flavour: str
) -> None:
    await _store_days(storage, [400, 200, 31, 29, 1])
    before = NOW - timedelta(days=30)
    deleted = await storage.prune_readings(before, chunk_rows=2)  # several chunks
    times = [r.time for r in (await all_readings(storage, "gw-1")).readings]
    if db_flavour == TIMESCALEDB:  # its retention policy drops chunks; nothing here
        assert (deleted, len(times)) == (0, 15)
        return
    assert deleted == 9
    assert len(times) == 6
    assert min(times) >= before
    daily = await storage.rollups(
        "gw-1", "th1", "air_temperature", period=DAILY, start=EVER[0], end=EVER[1]
    )
    assert len(daily.rollups) == 5  # the deleted days' rollups are kept
    hourly = await storage.rollups(
        "gw-1", "th1", "air_temperature", period=HOURLY, start=EVER[0], end=EVER[1]
    )
    assert sum(r.count for r in hourly.rollups) == 15
    assert await storage.prune_readings(before) == 0


async def test_housekeeping_prunes_each_table_by_its_own_age(
    storage: Storage, migrated_database_url: str, db_flavour: str
) -> None:
    await _store_days(storage, [100, 5])
    for source in ("a", "b"):
        await storage.dead_letter(source=source, reason="malformed", detail="x", payload=b"x")
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
        await conn.execute(
            "UPDATE ingested_batches SET received_at = %s WHERE seq = 1", [NOW - timedelta(days=40)]
        )
        await conn.execute(
            "UPDATE dead_letters SET received_at = %s WHERE source = 'a'",
            [NOW - timedelta(days=100)],
        )
        await conn.commit()
    policy = IngestPolicy(
        batch_log_retention_days=30, dead_letter_retention_days=90, readings_retention_days=60
    )
    pruned = await prune(storage, policy, now=NOW)
    plain = db_flavour != TIMESCALEDB
    assert pruned == Pruned(batches=1, dead_letters=1, readings=3 if plain else 0)
    assert [d.source for d in await storage.list_dead_letters()] == ["b"]
    assert await prune(storage, policy, now=NOW) == Pruned(0, 0, 0)
    keep_all = IngestPolicy(batch_log_retention_days=30, dead_letter_retention_days=90)
    assert (await prune(storage, keep_all, now=NOW + timedelta(days=400))).readings == 0


def test_retention_run_command(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("SHANSHUI_RETENTION_DAYS", "30")
    result = CliRunner().invoke(app, ["retention", "run"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 0 readings, 0 batch-log rows, 0 dead letters"
    monkeypatch.delenv("SHANSHUI_RETENTION_DAYS")
    result = CliRunner().invoke(app, ["retention", "run"])
    assert "no readings (kept forever)" in result.stdout


async def _marked_means(url: str) -> set[datetime]:
    """The times ``reading_means`` marks (one series in these tests)."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT time FROM reading_means")
        return {row[0] for row in await cursor.fetchall()}


async def test_the_marks_of_thinned_readings_go_with_their_readings(
    storage: Storage, migrated_database_url: str, db_flavour: str
) -> None:
    """No ``reading_means`` row outlives its reading, and none of a reading still kept goes."""
    for seq, ago in enumerate([400, 31, 29, 1], start=1):
        start = NOW_MS - ago * DAY_MS
        means = tuple(
            Reading("th1", "air_temperature", start + i * 600_000, 20.0 + i, mean_of=4)
            for i in range(3)
        )
        await storage.store_batch(Batch("gw-1", seq, means), "t")
    assert len(await _marked_means(migrated_database_url)) == 12
    # the cut-off falls inside the day 29 days ago (00:00 and 00:10 before it, 00:20 after)
    before = NOW - timedelta(days=29) + timedelta(minutes=15)
    if db_flavour == TIMESCALEDB:  # what its retention policy does: whole chunks only
        async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
            await conn.execute("SELECT drop_chunks('readings', older_than => %s)", [before])
            await conn.commit()
    await storage.prune_readings(before, chunk_rows=2)
    kept = (await all_readings(storage, "gw-1")).readings
    assert {r.time for r in kept} == await _marked_means(migrated_database_url)
    # plain: 00:20 of day 29 and day 1; TimescaleDB: the chunk of day 29 is not dropped
    assert len(kept) == (6 if db_flavour == TIMESCALEDB else 4)
    assert min(r.time for r in kept) >= before - timedelta(minutes=15)
