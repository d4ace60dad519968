"""The evaluator's promises where its hot path cuts corners, on a real PostgreSQL.

Each test drives readings through :class:`IngestPipeline`, a real
:class:`AlarmWorker` follows the database; restarts are ``stop()`` (with the
checkpoint) and crashes ``stop(checkpoint=False)`` (what waits for a checkpoint is lost).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.storage import Storage
from tests.cloud.alarms.live_helpers import (
    MINUTE,
    T0,
    Clock,
    Station,
    alarms,
    evaluator,
    rules,
    station,
)

pytestmark = pytest.mark.anyio

DO_LOW = {"id": "do-low", "kind": "threshold", "below": 3.0,
          "scope": {"quantities": ["dissolved_oxygen"]}}  # fmt: skip


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        yield opened


async def test_a_silence_limit_learnt_before_a_restart_is_kept_after_one_reading(
    storage: Storage,
) -> None:
    """After a restart the series' interval is not known again until its second reading;
    its one reading must not erase the silence limit learnt before."""
    await rules(storage, {"id": "silent", "kind": "absence", "multiple": 3})
    clock = Clock()
    first = await evaluator(storage, clock)
    await Station(storage, first, clock).send("water_temperature", [20.0, 20.1, 20.2], T0)
    await first.stop()
    second = await evaluator(storage, clock)
    at = Station(storage, second, clock, seq=[100])
    await at.send("water_temperature", [20.3], T0 + 3 * MINUTE)  # one reading, then silence
    clock.now_s = (T0 + 3 * MINUTE + 4 * MINUTE) / 1000  # 4 of its 1-minute intervals
    await second.tick()
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.subject, alarm.state) == (
        "silent", "gw-1/d1/water_temperature", "open",
    )  # fmt: skip
    await second.stop()


async def test_a_crash_between_checkpoints_raises_no_false_silence(storage: Storage) -> None:
    """Newest times wait for a checkpoint; a crash must not make a series that delivered
    until the crash look silent since the last checkpoint."""
    await rules(storage, {"id": "silent", "kind": "absence", "after_s": 300})
    clock = Clock()
    first = await evaluator(storage, clock)
    at = Station(storage, first, clock)
    # every minute for ten minutes, a step each; no tick (no checkpoint) meanwhile
    for minute in range(11):
        await at.send("water_temperature", [20.0], T0 + minute * MINUTE)
    await first.stop(checkpoint=False)  # a crash
    second = await evaluator(storage, clock)
    clock.now_s = (T0 + 10 * MINUTE + 30_000) / 1000  # 30 s after its last reading
    await second.tick()
    assert await alarms(storage) == []
    await second.stop()


async def test_a_quantity_a_new_rule_watches_is_read_from_the_next_batch(
    storage: Storage,
) -> None:
    """The feed reads only the quantities rules watch; a rule that adds one gets its
    readings from the next batch, and the series' interval is learnt from them."""
    await rules(storage, DO_LOW)
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    # not read: no rule watches nh3; every 10 minutes
    await at.send("nh3", [1.0, 1.0, 1.0], T0, step_ms=10 * MINUTE)
    await rules(
        storage,
        DO_LOW,
        {"id": "nh3-high", "kind": "threshold", "above": 5.0, "scope": {"quantities": ["nh3"]}},
        {"id": "nh3-silent", "kind": "absence", "multiple": 3,
         "scope": {"quantities": ["nh3"]}},
    )  # fmt: skip
    # now every minute: the interval is 1 minute, not the 10 of the readings not read
    await at.send("nh3", [6.0, 6.0], T0 + 30 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.value) == ("nh3-high", 6.0)
    clock.now_s = (T0 + 31 * MINUTE + 4 * MINUTE) / 1000
    await worker.tick()
    assert sorted((a.rule_id, a.state) for a in await alarms(storage)) == [
        ("nh3-high", "open"), ("nh3-silent", "open"),
    ]  # fmt: skip
    await worker.stop()


async def test_windows_moved_before_a_rules_change_survive_a_crash_after_it(
    storage: Storage,
) -> None:
    """A rules swap saves what waits for a checkpoint first: the rate window filled
    before it is there after a crash that follows it."""
    rate = {"id": "nh3-rise", "kind": "rate", "per_hour": 60.0, "window_s": 1800}
    await rules(storage, rate)
    clock = Clock()
    first = await evaluator(storage, clock)
    at = Station(storage, first, clock)
    await at.send("nh3", [10.0, 10.0], T0)  # the window's points: not saved yet
    await rules(storage, rate, {"id": "do-low", "kind": "threshold", "below": 3.0})
    await at.send("dissolved_oxygen", [7.0], T0 + 2 * MINUTE)  # a step with the new rules
    await first.stop(checkpoint=False)  # a crash
    second = await evaluator(storage, clock)
    # +15 in 10 min from the point at T0: 90/h, judged only with the window kept
    await Station(storage, second, clock, seq=[100]).send("nh3", [25.0], T0 + 10 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.state) == ("nh3-rise", "open")
    await second.stop()


async def test_one_early_reading_does_not_shrink_a_series_silence_limit(storage: Storage) -> None:
    """A gateway restarted polls at once, seconds after its last poll: that one short gap
    is no new poll interval (3 x 5 s would call the series silent 15 s later)."""
    await rules(storage, {"id": "silent", "kind": "absence", "multiple": 3})
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("water_temperature", [20.0, 20.1, 20.2], T0)  # every minute
    await at.send("water_temperature", [20.2], T0 + 2 * MINUTE + 5000)  # restarted: at once
    clock.now_s = (T0 + 2 * MINUTE + 35_000) / 1000  # 30 s later: half a poll interval
    await worker.tick()
    assert await alarms(storage) == []
    # polled faster for real: learnt on the second short gap, silence judged by it
    await at.send("water_temperature", [20.3, 20.4], T0 + 2 * MINUTE + 10_000, step_ms=5000)
    clock.now_s = (T0 + 2 * MINUTE + 15_000 + 20_000) / 1000  # 4 of its 5 s intervals
    await worker.tick()
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.state) == ("silent", "open")
    await worker.stop()
