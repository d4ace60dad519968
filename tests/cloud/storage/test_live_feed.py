"""What the live hub asks storage each tick: new batches, and the readings they brought."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from cloud.storage import Storage
from cloud.storage.live_feed import new_batches, new_readings, newest_times
from tests.cloud.helpers import make_batch, now_ms

pytestmark = pytest.mark.anyio

DAY = timedelta(days=1)


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("gw-1")
        await opened.register_gateway("gw-2")
        yield opened


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


async def test_new_batches_and_the_readings_of_their_gateways_after_each_cursor(
    storage: Storage,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    start = now_ms() - 10_000
    await storage.store_batch(make_batch("gw-1", 1, [1.0, 2.0, 3.0], start_ms=start), "")
    await storage.store_batch(
        make_batch("gw-1", 2, [7.0, 8.0], quantity="relative_humidity", start_ms=start), ""
    )
    await storage.store_batch(make_batch("gw-2", 1, [5.0], start_ms=start), "")
    old = now_ms() - 600_000  # an outbox replay, measured ten minutes ago
    await storage.store_batch(make_batch("gw-1", 3, [0.5], start_ms=old), "")

    assert await new_batches(storage, before, 100) == [
        ("gw-1", 1),
        ("gw-1", 2),
        ("gw-2", 1),
        ("gw-1", 3),
    ]
    assert await new_batches(storage, before, 2) == [("gw-1", 1), ("gw-1", 2)]
    assert await new_batches(storage, datetime.now(UTC) + timedelta(seconds=1), 100) == []

    floor = _at(now_ms() - 120_000)
    until = datetime.now(UTC) + DAY
    rows = await new_readings(storage, {"gw-1"}, {}, floor=floor, until=until, per_series=500)
    assert [(r.gateway, r.value) for r in rows] == [
        ("gw-1", 1.0),
        ("gw-1", 7.0),
        ("gw-1", 2.0),
        ("gw-1", 8.0),
        ("gw-1", 3.0),
    ]  # by time then series; gw-2 not asked for; without a cursor, nothing before the floor
    temperature = rows[0].series_id
    after = {temperature: rows[2].time}  # two temperatures were sent already
    rest = await new_readings(storage, {"gw-1"}, after, floor=floor, until=until, per_series=500)
    assert [r.value for r in rest] == [7.0, 8.0, 3.0]
    capped = await new_readings(storage, {"gw-1"}, {}, floor=floor, until=until, per_series=1)
    assert sorted(r.value for r in capped) == [1.0, 7.0]
    # a series followed since before the replay: still nothing from before the floor
    since_long = {temperature: _at(old - 1000)}
    followed = await new_readings(
        storage, {"gw-1"}, since_long, floor=floor, until=until, per_series=500
    )
    assert [r.value for r in followed if r.series_id == temperature] == [1.0, 2.0, 3.0]
    older_floor = _at(old - 2000)
    replayed = await new_readings(
        storage, {"gw-1"}, since_long, floor=older_floor, until=until, per_series=500
    )
    assert [r.value for r in replayed if r.series_id == temperature] == [0.5, 1.0, 2.0, 3.0]


async def test_newest_times_start_the_cursors(storage: Storage) -> None:
    start = now_ms() - 10_000
    await storage.store_batch(make_batch("gw-1", 1, [1.0, 2.0], start_ms=start), "")
    await storage.store_batch(make_batch("gw-2", 1, [5.0], start_ms=start - 5000), "")
    newest = await newest_times(storage, datetime.now(UTC) + DAY)
    assert sorted((gw, at) for _, gw, at in newest) == [
        ("gw-1", _at(start + 1000)),
        ("gw-2", _at(start - 5000)),
    ]
