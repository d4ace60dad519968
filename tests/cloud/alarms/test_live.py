"""Alarms raised, held and cleared from what ingest committed, on a real PostgreSQL.

Each test drives readings through :class:`IngestPipeline` into storage; an
:class:`AlarmWorker` (the evaluator process's service, here in the test's loop)
follows the committed batches from the database and records alarms; the tests wait
until it has evaluated everything committed (``idle``) and read the alarms back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cloud.alarms.worker import AlarmWorker
from cloud.ingest.pipeline import PRESENCE
from cloud.storage import Storage
from cloud.storage.alarms import alarm_history
from cloud.storage.sites import list_sites, update_site
from tests.cloud.alarms.live_helpers import (
    HOUR,
    MINUTE,
    PLATFORM,
    T0,
    Clock,
    Recorder,
    Station,
    alarms,
    evaluator,
    rules,
)
from wire import Batch, Quality, Reading
from wire.signing import sign_object

pytestmark = pytest.mark.anyio


async def _engine(storage: Storage, clock: Clock, sink: Recorder | None = None) -> AlarmWorker:
    return await evaluator(storage, clock, sink)


async def _events(storage: Storage, alarm_id: int) -> list[tuple[str, str]]:
    return [(e.kind, e.level) for e in await alarm_history(storage, PLATFORM, alarm_id)]


async def test_threshold_hysteresis_and_minimum_duration(storage: Storage) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5,
                          "for_s": 120, "severity": "critical"})  # fmt: skip
    clock, sink = Clock(), Recorder()
    engine = await _engine(storage, clock, sink)
    at = Station(storage, engine, clock)
    await at.send("dissolved_oxygen", [2.9, 2.8], T0)
    assert await alarms(storage) == []  # below, but not yet for 120 s
    await at.send("dissolved_oxygen", [2.7], T0 + 2 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.severity, alarm.subject) == (
        "open", "critical", "gw-1/d1/dissolved_oxygen",
    )  # fmt: skip
    await at.send("dissolved_oxygen", [3.2, 3.4], T0 + 3 * MINUTE)  # above 3.0, below clear
    assert (await alarms(storage))[0].state == "open"
    await at.send("dissolved_oxygen", [3.6], T0 + 5 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.resolved_by) == ("resolved", "auto")
    assert await _events(storage, alarm.id) == [("open", "critical"), ("resolve", "")]
    assert [n.kind for n in sink.notified] == ["open", "resolve"]
    await engine.stop()


SCENARIOS: dict[str, tuple[dict[str, Any], list[tuple[str, list[float], int, int]]]] = {
    # kind: (rule, [(quantity, values, start, step)]) raising, holding and clearing
    "rate": (
        {"kind": "rate", "per_hour": 6, "window_s": 1800, "scope": {"quantities": ["nh3"]}},
        [("nh3", [1 + 0.05 * i for i in range(10)], T0, MINUTE),
         ("nh3", [1.5 + 0.2 * i for i in range(1, 10)], T0 + 10 * MINUTE, MINUTE),
         ("nh3", [3.3] * 40, T0 + 20 * MINUTE, MINUTE)],
    ),
    "aqi": (
        {"kind": "aqi", "level": 3},
        [("pm2_5", [40, 80, 120, 60], T0, HOUR)],
    ),
    "water_class": (
        {"kind": "water_class", "worse_than": "III"},
        [("ammonia_nitrogen", [0.8, 2.5, 2.4, 0.9], T0, MINUTE)],
    ),
    "geohazard": (
        {"kind": "geohazard", "rain_reading": "increment", "rain_window_s": 21600,
         "rate_window_s": 21600,
         "levels": [{"level": "blue", "rain_mm": 20, "displacement_mm_per_day": 2},
                    {"level": "yellow", "rain_mm": 50, "displacement_mm_per_day": 5}]},
        # one station's rain gauge and crack meter, hour by hour (evaluated in time order)
        [("displacement", [10.0], T0, HOUR)]
        + [step for h, rain, crack in ((1, 10.0, 10.5), (2, 10.0, 11.0), (3, 10.0, 11.5),
                                       (4, 40.0, 12.0), (11, 0.0, 12.0), (12, 0.0, 12.0))
           for step in (("rainfall", [rain], T0 + h * HOUR, HOUR),
                        ("displacement", [crack], T0 + h * HOUR, HOUR))],
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(SCENARIOS))
async def test_each_rule_kind_raises_holds_and_clears(storage: Storage, kind: str) -> None:
    rule, steps = SCENARIOS[kind]
    await rules(storage, {"id": f"r-{kind}"} | rule)
    clock = Clock()
    engine = await _engine(storage, clock)
    at = Station(storage, engine, clock)
    for quantity, values, start, step in steps:
        device = "rg" if quantity == "rainfall" else "d1"
        await at.send(quantity, values, start, step, device)
    [alarm] = await alarms(storage)
    kinds = [k for k, _ in await _events(storage, alarm.id)]
    assert kinds[0] == "open"
    assert kinds[-1] == "resolve"
    assert alarm.state == "resolved"
    if kind == "geohazard":
        assert await _events(storage, alarm.id) == [
            ("open", "blue"), ("level", "yellow"), ("resolve", ""),
        ]  # fmt: skip
        assert alarm.subject == "S1"
        assert alarm.site_id is not None
    await engine.stop()


async def test_gateway_silence_and_offline_status(storage: Storage) -> None:
    await rules(storage, {"id": "gw-silent", "kind": "absence", "target": "gateway",
                          "after_s": 900})  # fmt: skip
    clock = Clock()
    engine = await _engine(storage, clock)
    at = Station(storage, engine, clock)
    await at.send("air_temperature", [20.0], T0)
    clock.now_s = (T0 + 10 * MINUTE) / 1000
    await engine.tick()
    assert await alarms(storage) == []
    clock.now_s = (T0 + 16 * MINUTE) / 1000
    await engine.tick()
    await engine.tick()  # still silent: no second alarm
    [alarm] = await alarms(storage)
    assert (alarm.subject, alarm.state) == ("gw-1", "open")
    await at.send("air_temperature", [20.1], T0 + 17 * MINUTE)
    assert [a.state for a in await alarms(storage)] == ["resolved"]
    # the gateway's own word: offline opens, online resolves
    secret = await storage.rotate_secret("gw-1")
    topic = "shanshui/v1/gw-1/up/status"
    settled = await at.pipeline.handle(topic, sign_object(b'{"state":"offline"}', secret))
    assert settled.outcome == PRESENCE
    await engine.idle()
    assert [a.state for a in await alarms(storage)] == ["resolved", "open"]
    await at.pipeline.handle(topic, sign_object(b'{"state":"online"}', secret))
    await engine.idle()
    assert [a.state for a in await alarms(storage)] == ["resolved", "resolved"]
    await engine.stop()


async def test_a_rule_committed_before_a_batch_applies_to_it(storage: Storage) -> None:
    clock = Clock()
    worker = await _engine(storage, clock)  # no rules yet: it steps over what comes
    at = Station(storage, worker, clock)
    await at.send("dissolved_oxygen", [2.0], T0)
    # the rule, then at once a batch: whenever the evaluator steps, it uses the rule
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0})
    await at.send("dissolved_oxygen", [2.1], T0 + MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.value) == ("do-low", 2.1)
    await worker.stop()


async def test_a_restart_with_an_alarm_open_neither_refires_nor_forgets(storage: Storage) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5})
    clock = Clock()
    first = await _engine(storage, clock)
    await Station(storage, first, clock).send("dissolved_oxygen", [2.0], T0)
    await first.stop()
    restarted = await _engine(storage, clock)
    at = Station(storage, restarted, clock, seq=[100])
    await at.send("dissolved_oxygen", [2.1, 1.9], T0 + MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.repeats) == ("open", 0)
    await at.send("dissolved_oxygen", [4.0], T0 + 3 * MINUTE)
    [alarm] = await alarms(storage)
    assert alarm.state == "resolved"
    assert [k for k, _ in await _events(storage, alarm.id)] == ["open", "resolve"]
    await restarted.stop()


async def test_a_pending_duration_survives_a_crash_and_batches_committed_meanwhile_count(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "for_s": 120})
    clock = Clock()
    first = await _engine(storage, clock)
    at = Station(storage, first, clock)
    await at.send("dissolved_oxygen", [2.0], T0)  # low since T0: not yet 120 s
    await first.stop(checkpoint=False)  # a crash: the step saved it all
    # committed while no evaluator runs: evaluated when one is back, in order
    await at.pipeline.handle_batch(
        "test", Batch("gw-1", 50, (Reading("d1", "dissolved_oxygen", T0 + MINUTE, 2.1,
                                           Quality.NORMAL),)), b"",
    )  # fmt: skip
    restarted = await _engine(storage, clock)
    await Station(storage, restarted, clock, seq=[100]).send(
        "dissolved_oxygen", [2.2], T0 + 2 * MINUTE
    )
    [alarm] = await alarms(storage)  # 120 s low across the crash: open, once
    assert (alarm.state, alarm.opened_at.timestamp() * 1000) == ("open", T0 + 2 * MINUTE)
    await restarted.stop()


async def test_a_rate_window_is_kept_across_a_stop_and_a_crash_forgets_no_alarm(
    storage: Storage,
) -> None:
    """Windows are saved at checkpoints (a tick, a stop), not with every reading."""
    await rules(storage, {"id": "nh3-rise", "kind": "rate", "per_hour": 60.0, "window_s": 1800})
    clock = Clock()
    first = await _engine(storage, clock)
    await Station(storage, first, clock).send("nh3", [10.0, 10.0], T0)
    assert await alarms(storage) == []
    await first.stop()  # the window's two points are saved now
    second = await _engine(storage, clock)
    at = Station(storage, second, clock, seq=[100])
    # +15 in 10 min from the point at T0, saved before the restart: 90/h
    await at.send("nh3", [25.0], T0 + 10 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.rule_id) == ("open", "nh3-rise")
    await at.send("nh3", [27.0], T0 + 11 * MINUTE)  # only the window changed: not saved yet
    await second.stop(checkpoint=False)  # a crash
    third = await _engine(storage, clock)
    await Station(storage, third, clock, seq=[200]).send("nh3", [40.0], T0 + 12 * MINUTE)
    [alarm] = await alarms(storage)  # still the one alarm, open, neither forgotten nor again
    assert (alarm.state, alarm.repeats) == ("open", 0)
    assert [k for k, _ in await _events(storage, alarm.id)] == ["open"]
    await third.stop()


async def test_a_station_s_new_target_class_applies_once_metadata_is_read_again(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "section-class", "kind": "water_class"})  # the site's target
    clock = Clock()
    engine = await _engine(storage, clock)
    at = Station(storage, engine, clock)
    await at.send("ammonia_nitrogen", [1.2], T0)  # no target class yet: nothing to judge
    assert await alarms(storage) == []
    [site] = await list_sites(storage, PLATFORM)
    await update_site(storage, PLATFORM, site.id, {"water_target_class": "II"})
    await engine.refresh_stations()  # as every tick does
    await at.send("ammonia_nitrogen", [1.2], T0 + MINUTE)  # class IV, worse than II
    [alarm] = await alarms(storage)
    assert (alarm.rule_id, alarm.state, alarm.level) == ("section-class", "open", "IV")
    await engine.stop()


async def test_a_rule_disabled_or_of_another_kind_ends_its_alarms_and_starts_afresh(
    storage: Storage,
) -> None:
    low = {"id": "do-low", "kind": "threshold", "below": 3.0}
    await rules(storage, low)
    clock = Clock()
    engine = await _engine(storage, clock)
    at = Station(storage, engine, clock)
    await at.send("dissolved_oxygen", [2.0], T0)
    await rules(storage, low | {"enabled": False})
    await at.send("dissolved_oxygen", [2.0], T0 + MINUTE)  # not judged: the rule is off
    [first] = await alarms(storage)
    assert (first.state, first.resolve_comment) == ("resolved", "its rule was disabled")
    await rules(storage, low)  # on again: no state left, the low oxygen opens a new alarm
    await at.send("dissolved_oxygen", [2.0], T0 + 2 * MINUTE)
    [_, second] = await alarms(storage)
    assert (second.state, second.opened_at.timestamp() * 1000) == ("open", T0 + 2 * MINUTE)
    # the same id, now a rate rule: the threshold's alarm ends, its level does not carry
    # over, so a fast fall opens an alarm of the rate rule's own
    await rules(storage, {"id": "do-low", "kind": "rate", "per_hour": 60.0, "direction": "fall"})
    await at.send("dissolved_oxygen", [2.0, 0.5], T0 + 3 * MINUTE)  # -90/h
    found = [(a.state, a.resolve_comment, a.value) for a in await alarms(storage)]
    assert found[1:] == [("resolved", "its rule became a rate rule", 2.0), ("open", None, 0.5)]
    await engine.stop()


async def test_a_standby_evaluator_takes_over_and_nothing_is_raised_twice(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5})
    clock, sink_a, sink_b = Clock(), Recorder(), Recorder()
    a = await _engine(storage, clock, sink_a)
    b = AlarmWorker(storage, clock=clock, notify=sink_b, tick_s=3600, standby_s=0.05)
    await b.start()
    seq = [0]
    at_a = Station(storage, a, clock, seq=seq)
    await at_a.send("dissolved_oxygen", [2.0, 2.1], T0)
    assert not b.active  # one evaluator at a time
    # the active one dies; the standby takes over from the stored position
    await a.stop()
    await b.wait_active()
    at_b = Station(storage, b, clock, seq=seq)
    await at_b.send("dissolved_oxygen", [2.2], T0 + 2 * MINUTE)
    await at_b.send("dissolved_oxygen", [1.0], T0 + 3 * MINUTE, device="d2")
    await at_b.send("dissolved_oxygen", [5.0], T0 + 4 * MINUTE)
    found = await alarms(storage)
    assert sorted((a.subject, a.state, a.repeats) for a in found) == [
        ("gw-1/d1/dissolved_oxygen", "resolved", 0), ("gw-1/d2/dissolved_oxygen", "open", 0),
    ]  # fmt: skip
    assert [n.kind for n in sink_a.notified] == ["open"]
    # taking over, b hands over again the events no delivery was claimed for (a crash
    # between commit and notification; a Recorder claims none): a notifier's claim per
    # contact and event sends each once (test_notify)
    events = {(n.event_id, n.subject[5:7], n.kind) for n in sink_a.notified + sink_b.notified}
    assert [e[1:] for e in sorted(events)] == [("d1", "open"), ("d2", "open"), ("d1", "resolve")]
    await b.stop()


async def test_two_evaluators_stepping_at_once_record_each_transition_once(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5})
    clock = Clock()
    a = await _engine(storage, clock)
    at = Station(storage, a, clock)
    await at.send("dissolved_oxygen", [2.0], T0)
    # a second evaluator that steps although it is not the active one (a lost lead, a
    # partition): the generation check makes it reload before it evaluates anything
    b = AlarmWorker(storage, clock=clock, tick_s=3600, standby_s=3600)
    await b.start()
    await b.reload_rules()  # as an evaluator that was the active one would have
    for value, minute in ((2.1, 1), (4.0, 2), (2.0, 3)):
        await at.pipeline.handle_batch("test", Batch("gw-1", 10 + minute, (
            Reading("d1", "dissolved_oxygen", T0 + minute * MINUTE, value, Quality.NORMAL),)),
            b"")  # fmt: skip
        await asyncio.gather(a.idle(), b._step())
    found = await alarms(storage)
    assert [(x.state, x.repeats) for x in found] == [("resolved", 0), ("open", 0)]
    events = [k for x in found for k, _ in await _events(storage, x.id)]
    assert events == ["open", "resolve", "open"]
    await a.stop()
    await b.stop()


async def test_an_alarm_notified_open_is_notified_over_though_late_data_ended_it(
    storage: Storage,
) -> None:
    """Whoever was paged at 03:00 hears that it ended, even when the gateway's backlog
    after an outage is what tells (its other late transitions stay quiet)."""
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5})
    clock, sink = Clock(), Recorder()
    engine = await _engine(storage, clock, sink)
    at = Station(storage, engine, clock)
    await at.send("dissolved_oxygen", [2.0], T0)  # live: opened and notified
    # the link drops; an hour later the backlog arrives: recovered at 10 min, then a dip
    # that opened and ended while nobody could know
    await at.send("dissolved_oxygen", [2.5, 4.0, 2.0, 4.0], T0 + 5 * MINUTE, 5 * MINUTE,
                  now_ms=T0 + HOUR)  # fmt: skip
    first, second = await alarms(storage)
    assert (first.state, first.late, second.state, second.late) == (
        "resolved", False, "resolved", True,
    )  # fmt: skip
    told = [(n.alarm_id, n.kind, n.late) for n in sink.notified]
    assert told == [(first.id, "open", False), (first.id, "resolve", True)]
    await engine.stop()


async def test_backfill_after_an_outage_is_recorded_late_and_not_notified(
    storage: Storage,
) -> None:
    await rules(storage, {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5})
    clock, sink = Clock(), Recorder()
    engine = await _engine(storage, clock, sink)
    at = Station(storage, engine, clock)
    # two hours of readings arrive at once after the outage, out of order within the batch
    backlog = [4.0, 2.0, 2.5, 3.6, 4.0, 1.5]
    await at.send("dissolved_oxygen", backlog[::-1], T0 + 50 * MINUTE, -10 * MINUTE,
                  now_ms=T0 + 2 * HOUR)  # fmt: skip
    first, second = await alarms(storage)
    assert (first.state, first.late, second.state, second.late) == (
        "resolved", True, "open", True,
    )  # fmt: skip
    assert sink.notified == []
    await at.send("dissolved_oxygen", [4.0], T0 + 2 * HOUR)  # live again: resolves, notified
    assert [(n.kind, n.late) for n in sink.notified] == [("resolve", False)]
    await engine.stop()
