"""The alarm evaluator's feed on a real PostgreSQL: every committed batch once, none skipped.

The case a sequence-numbered log gets wrong: a transaction that began first commits
last. Here one is held open by hand while a later one commits and is read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from cloud.storage import Storage
from cloud.storage.alarm_eval import evaluation
from cloud.storage.alarm_feed import FeedPosition, FeedStep
from tests.cloud.alarms.live_helpers import MINUTE, T0, station
from wire import Batch, Quality, Reading

pytestmark = pytest.mark.anyio


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        yield opened


def _batch(seq: int, *minutes: int, quality: Quality = Quality.NORMAL) -> Batch:
    readings = tuple(
        Reading("d1", "water_temperature", T0 + m * MINUTE, 7.0 + m, quality) for m in minutes
    )
    return Batch("gw-1", seq, readings)


async def _step(storage: Storage, position: FeedPosition, limit: int = 100) -> FeedStep:
    async with evaluation(storage) as tx:
        return await tx.step(position, limit=limit, readings=True)


def _minutes(step: FeedStep) -> list[int]:
    return [(r.time_ms - T0) // MINUTE for r in step.readings]


async def test_a_transaction_that_commits_late_is_read_after_it_commits(
    storage: Storage, migrated_database_url: str
) -> None:
    await storage.store_batch(_batch(1, 0), "test")
    first = await _step(storage, FeedPosition())
    assert (first.batches, _minutes(first), first.more) == (1, [0], False)
    # a transaction that began earlier (lower id) than the next one, and commits after it
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as early:
        await early.execute(
            """INSERT INTO ingested_batches (gateway_id, seq, reading_count, first_ms, last_ms)
               VALUES ('gw-1', 2, 1, %(t)s, %(t)s)""",
            {"t": T0 + MINUTE},
        )
        await early.execute(
            """INSERT INTO readings (time, series_id, value, quality)
               SELECT 'epoch'::timestamptz + %(t)s * interval '1 millisecond', s.id, 8.0, 'N'
               FROM series s JOIN devices d ON d.id = s.device_id WHERE d.gateway_id = 'gw-1'""",
            {"t": T0 + MINUTE},
        )
        await storage.store_batch(_batch(3, 2), "test")
        second = await _step(storage, first.position)
        assert _minutes(second) == [2]
        assert second.position.pending  # the early one, still running, is remembered
        await early.commit()
    third = await _step(storage, second.position)
    assert (third.batches, _minutes(third), third.position.pending) == (1, [1], ())
    nothing = await _step(storage, third.position)
    assert (nothing.transactions, nothing.readings) == (0, [])


async def test_steps_take_whole_transactions_up_to_a_limit_each_once(storage: Storage) -> None:
    for seq in range(1, 6):
        await storage.store_batch(_batch(seq, 2 * seq, 2 * seq + 1), "test")
    await storage.store_batch(_batch(9, 50, quality=Quality.MAINTENANCE), "test")
    position, seen, steps = FeedPosition(), [], 0
    while True:
        step = await _step(storage, position, limit=2)
        seen += _minutes(step)
        position, steps = step.position, steps + 1
        if not step.more:
            break
    # readings flagged other than N are not the environment speaking: not evaluated
    assert sorted(seen) == list(range(2, 12))  # each once (the evaluator sorts a step by time)
    assert steps >= 3


async def test_presence_changes_are_fed_once_per_change(storage: Storage) -> None:
    start = (await _step(storage, FeedPosition())).position
    await storage.set_presence("gw-1", "offline")
    await storage.set_presence("gw-1", "offline")  # no change: nothing new
    await storage.set_presence("gw-1", "online")
    step = await _step(storage, start)
    assert [(p.gateway_id, p.online) for p in step.presences] == [("gw-1", False), ("gw-1", True)]


async def test_only_readings_of_watched_tenants_and_quantities_are_read(storage: Storage) -> None:
    """The evaluator passes what its rules can watch; readings beyond it stay unread."""
    readings = (
        Reading("d1", "water_temperature", T0, 7.0, Quality.NORMAL),
        Reading("d1", "water_ph", T0, 7.2, Quality.NORMAL),
        Reading("d2", "dissolved_oxygen", T0, 6.5, Quality.NORMAL),
    )
    await storage.store_batch(Batch("gw-1", 1, readings), "test")

    async def quantities_read(tenants: list[str] | None, quantities: list[str] | None) -> set[str]:
        async with evaluation(storage) as tx:
            chosen = await tx.choose(FeedPosition(), limit=100)
            step = await tx.read(chosen, readings=True, tenants=tenants, quantities=quantities)
            names = await tx.series_names(r.series_id for r in step.readings)
        return {names[r.series_id].quantity for r in step.readings}

    everything = {"water_temperature", "water_ph", "dissolved_oxygen"}
    assert await quantities_read(None, None) == everything
    assert await quantities_read(["env"], None) == everything
    assert await quantities_read(["env"], ["water_ph", "dissolved_oxygen", "nh3"]) == {
        "water_ph",
        "dissolved_oxygen",
    }
    assert await quantities_read(["another-department"], None) == set()
    assert await quantities_read([], []) == set()
