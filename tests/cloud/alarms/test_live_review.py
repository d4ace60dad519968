"""The evaluator's promises where its hot path cuts corners, on a real PostgreSQL.

Each test drives readings through :class:`IngestPipeline`, a real
:class:`AlarmWorker` follows the database; restarts are ``stop()`` (with the
checkpoint) and crashes ``stop(checkpoint=False)`` (what waits for a checkpoint is lost).
"""

from __future__ import annotations

import pytest

from cloud.alarms.worker import AlarmWorker
from cloud.storage import Storage
from cloud.storage.alarms import AlarmEvent, alarm_history
from tests.cloud.alarms.live_helpers import (
    MINUTE,
    PLATFORM,
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


async def _move(storage: Storage, gateway: str, tenant: str, site: str | None) -> None:
    """Move a gateway to another tenant's site (as an operator's SQL would)."""
    async with storage.connection("moving a gateway") as conn:
        await conn.execute(
            "UPDATE gateways SET tenant_id = (SELECT id FROM tenants WHERE name = %(t)s),"
            " site_id = (SELECT s.id FROM sites s JOIN tenants t ON t.id = s.tenant_id"
            "            WHERE t.name = %(t)s AND s.name = %(s)s) WHERE id = %(g)s",
            {"t": tenant, "s": site, "g": gateway},
        )


async def test_a_gateway_moved_to_another_tenant_is_judged_by_its_rules(storage: Storage) -> None:
    """The feed reads a gateway's readings only while its tenant has rules; a move is
    followed at once by the feed's filter and, once metadata is read again, by the rules."""
    await station(storage, tenant="farm", gateway="gw-2")  # its own site S1
    await storage.register_gateway("gw-3", tenant="quiet")  # a tenant without rules
    low = {"kind": "threshold", "below": 3.0}
    await rules(storage, {"id": "env-do"} | low, {"id": "farm-do", "tenant": "farm"} | low)
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("dissolved_oxygen", [2.0], T0)
    await _move(storage, "gw-1", "farm", "S1")
    await worker.refresh_stations()  # as every tick does
    await at.send("dissolved_oxygen", [2.0], T0 + MINUTE)
    quiet = Station(storage, worker, clock, gateway="gw-3", seq=[100])
    await quiet.send("dissolved_oxygen", [2.0], T0 + 2 * MINUTE)  # no rule of its tenant
    await _move(storage, "gw-3", "env", "S1")
    await quiet.send("dissolved_oxygen", [2.0], T0 + 3 * MINUTE)
    found = sorted((a.tenant, a.rule_id, a.subject, a.value) for a in await alarms(storage))
    assert found == [
        ("env", "env-do", "gw-1/d1/dissolved_oxygen", 2.0),
        ("env", "env-do", "gw-3/d1/dissolved_oxygen", 2.0),
        ("farm", "farm-do", "gw-1/d1/dissolved_oxygen", 2.0),
    ]
    await worker.stop()


async def test_a_gateway_moved_to_another_site_leaves_that_site_s_rules(storage: Storage) -> None:
    async with storage.connection("a second site") as conn:  # first: rules name known sites
        await conn.execute(
            "INSERT INTO sites (tenant_id, name) SELECT id, 'S2' FROM tenants WHERE name = 'env'"
        )
    await rules(
        storage,
        {"id": "s1-do", "kind": "threshold", "below": 3.0, "scope": {"sites": ["S1"]}},
        {"id": "s2-do", "kind": "threshold", "below": 3.0, "scope": {"sites": ["S2"]}},
    )
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("dissolved_oxygen", [2.0], T0)
    await _move(storage, "gw-1", "env", "S2")
    await worker.refresh_stations()
    await at.send("dissolved_oxygen", [2.0, 4.0], T0 + MINUTE)
    found = sorted((a.rule_id, a.state, a.repeats) for a in await alarms(storage))
    # S2's rule judges the series now (open, then resolved); S1's hears no more of it
    # (its alarm is left for the operator: no reading tells it is over)
    assert found == [("s1-do", "open", 0), ("s2-do", "resolved", 0)]
    await worker.stop()


GEOHAZARD = {
    "id": "slope", "kind": "geohazard", "rain_reading": "increment", "rain_window_s": 21600,
    "rate_window_s": 21600,
    "levels": [{"level": "blue", "rain_mm": 20, "displacement_mm_per_day": 2},
               {"level": "yellow", "rain_mm": 50, "displacement_mm_per_day": 5}],
}  # fmt: skip
# one station's rain gauge and crack meter, hour by hour, each reading a batch of its own
SLOPE = [("displacement", "cm", 0, 10.0)] + [
    step for h, rain, crack in ((1, 10.0, 10.5), (2, 10.0, 11.0), (3, 10.0, 11.5),
                                (4, 40.0, 12.0), (11, 0.0, 12.0), (12, 0.0, 12.0))
    for step in (("rainfall", "rg", h, rain), ("displacement", "cm", h, crack))
]  # fmt: skip


@pytest.mark.parametrize("checkpoint", [True, False], ids=["stop", "crash"])
@pytest.mark.parametrize("handover_at", [3, 5, 8])
async def test_a_standby_taking_over_continues_geohazard_windows_and_silence(
    storage: Storage, handover_at: int, checkpoint: bool
) -> None:
    """The standby raises the same geohazard alarms one evaluator would, and no silence,
    after a stop and after a crash too: a rain increment lost in a crash would count
    short for the whole rain window (hours), not a few seconds, so geohazard windows are
    saved with each step."""
    silent = {"id": "gw-silent", "kind": "absence", "target": "gateway", "after_s": 7200}
    await rules(storage, GEOHAZARD, silent)
    clock = Clock()
    a = await evaluator(storage, clock)
    b = await _standby(storage, clock)
    seq = [0]
    for index, (quantity, device, hour, value) in enumerate(SLOPE):
        if index == handover_at:
            await a.stop(checkpoint=checkpoint)
            await b.wait_active()
            await b.tick()
        worker = a if index < handover_at else b
        await Station(storage, worker, clock, seq=seq).send(
            quantity, [value], T0 + hour * 3_600_000, device=device
        )
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.subject, alarm.state) == ("slope", "S1", "resolved")
    assert [e.kind for e in await _history(storage, alarm.id)] == ["open", "level", "resolve"]
    await b.stop()


async def _standby(storage: Storage, clock: Clock) -> AlarmWorker:
    worker = AlarmWorker(storage, clock=clock, tick_s=3600, standby_s=0.05)
    await worker.start()
    return worker


async def _history(storage: Storage, alarm_id: int) -> list[AlarmEvent]:
    return await alarm_history(storage, PLATFORM, alarm_id)


async def test_a_series_an_absence_rule_no_longer_watches_is_not_called_silent(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "silent", "kind": "absence", "after_s": 300})
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    for minute in range(2):
        await at.send("water_temperature", [20.0], T0 + minute * MINUTE)
        await at.send("nh3", [1.0], T0 + minute * MINUTE)
    # narrowed to water temperature: nh3 is no business of the rule any more
    await rules(storage, {"id": "silent", "kind": "absence", "after_s": 300,
                          "scope": {"quantities": ["water_temperature"]}})  # fmt: skip
    for minute in range(2, 10):
        await at.send("water_temperature", [20.0], T0 + minute * MINUTE)
        await at.send("nh3", [1.0], T0 + minute * MINUTE)
    clock.now_s = (T0 + 10 * MINUTE) / 1000
    await worker.tick()
    assert await alarms(storage) == []
    await worker.stop()


@pytest.mark.parametrize("move", ["tenant", "site"])
async def test_a_gateway_moved_out_of_an_absence_rule_s_scope_is_not_called_silent(
    storage: Storage, move: str
) -> None:
    await station(storage, tenant="farm", gateway="gw-2")  # farm's site S1, a rule of its own
    await rules(
        storage,
        {"id": "silent", "kind": "absence", "after_s": 300, "scope": {"sites": ["S1"]}},
        {"id": "farm-do", "tenant": "farm", "kind": "threshold", "below": 3.0},
    )
    async with storage.connection("a second site") as conn:
        await conn.execute(
            "INSERT INTO sites (tenant_id, name) SELECT id, 'S2' FROM tenants WHERE name = 'env'"
        )
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("water_temperature", [20.0], T0)
    await _move(storage, "gw-1", *(("farm", "S1") if move == "tenant" else ("env", "S2")))
    await worker.refresh_stations()  # as every tick does
    for minute in range(1, 10):
        await at.send("water_temperature", [20.0], T0 + minute * MINUTE)
    clock.now_s = (T0 + 10 * MINUTE) / 1000
    await worker.tick()
    assert await alarms(storage) == []
    await worker.stop()


async def _thermometer_and_gauge(at: Station, minutes: int) -> None:
    """Water temperature every minute, rainfall every 10 minutes at :30, from T0."""
    for minute in range(minutes):
        await at.send("water_temperature", [20.0], T0 + minute * MINUTE)
        if minute % 10 == 0:
            await at.send("rainfall", [0.0], T0 + minute * MINUTE + 30_000, device="rg")


async def test_a_gateway_s_silence_limit_is_a_multiple_of_its_fastest_series(
    storage: Storage,
) -> None:
    """A gateway delivers whenever any of its series does: it is silent after three of
    its most frequent polls, whichever series it was heard from last."""
    await rules(storage, {"id": "gw-silent", "kind": "absence", "target": "gateway",
                          "multiple": 3})  # fmt: skip
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await _thermometer_and_gauge(at, minutes=21)
    # heard last: the rain gauge, at 20:30; silent since then for 4 of its fastest polls
    clock.now_s = (T0 + 24 * MINUTE + 30_000) / 1000
    await worker.tick()
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.subject, alarm.state) == ("gw-silent", "gw-1", "open")
    await worker.stop()


async def test_a_backlog_arriving_after_newer_readings_leaves_the_interval_alone(
    storage: Storage,
) -> None:
    """After an outage a gateway sends a live reading first and its backlog after it:
    neither the long gap nor the older readings make a new poll interval."""
    await rules(storage, {"id": "silent", "kind": "absence", "multiple": 3})
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("water_temperature", [20.0, 20.1, 20.2], T0)  # every minute
    await at.send("water_temperature", [21.0], T0 + 30 * MINUTE)  # live, after the outage
    await at.send("water_temperature", [20.5] * 27, T0 + 3 * MINUTE,
                  now_ms=T0 + 30 * MINUTE + 5000)  # the backlog, one batch  # fmt: skip
    await at.send("water_temperature", [21.1], T0 + 31 * MINUTE)
    clock.now_s = (T0 + 31 * MINUTE + 150_000) / 1000  # 2.5 intervals of 1 min
    await worker.tick()
    assert [a.state for a in await alarms(storage)] == []
    clock.now_s = (T0 + 31 * MINUTE + 190_000) / 1000  # past 3
    await worker.tick()
    assert [a.state for a in await alarms(storage)] == ["open"]
    await worker.stop()


async def test_a_gateway_s_removed_fast_device_stops_setting_its_silence_limit(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "gw-silent", "kind": "absence", "target": "gateway",
                          "multiple": 3})  # fmt: skip
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await _thermometer_and_gauge(at, minutes=21)
    # the thermometer is removed: the rain gauge alone, every 10 minutes
    for minute in (30, 40, 50, 60):
        clock.now_s = (T0 + minute * MINUTE) / 1000
        await worker.tick()  # silent at 30 (3 polls of the thermometer missed)
        await at.send("rainfall", [0.0], T0 + minute * MINUTE + 30_000, device="rg")
    clock.now_s = (T0 + 70 * MINUTE) / 1000  # 9.5 min after the gauge: within 3 x 10
    await worker.tick()
    [alarm] = await alarms(storage)  # the one when the thermometer went, resolved since
    assert (alarm.subject, alarm.state) == ("gw-1", "resolved")
    await worker.stop()
