"""Each rule kind through raise, hold and clear; restarts, replays, backfill, tenants."""

from __future__ import annotations

from cloud.alarms import Evaluator, GatewayStatus, Sample
from tests.cloud.alarms.helpers import MINUTE, T0, rule, samples, series

NOW = T0 + 3 * 3_600_000  # evaluated promptly unless a test says otherwise


def _kinds(transitions: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(t.kind, t.level) for t in transitions]


def test_threshold_with_hysteresis_and_minimum_duration() -> None:
    do = series("dissolved_oxygen")
    ev = Evaluator([rule(kind="threshold", below=3.0, clear=3.5, for_s=300, severity="critical")])
    # below 3 for four minutes only: no alarm
    assert ev.feed(samples(do, [2.9, 2.8, 2.7, 2.9, 3.1]), NOW) == []
    # below 3 from minute 5 on; held 5 minutes at minute 10
    out = ev.feed(samples(do, [2.9] * 7, start=T0 + 5 * MINUTE), NOW)
    assert _kinds(out) == [("open", "critical")]
    assert out[0].time_ms == T0 + 10 * MINUTE
    assert out[0].subject == "gw-1/d1/dissolved_oxygen"
    # between 3.0 and 3.5: still in alarm (hysteresis); above 3.5: resolved
    assert ev.feed(samples(do, [3.2, 3.4], start=T0 + 12 * MINUTE), NOW) == []
    out = ev.feed(samples(do, [3.6], start=T0 + 14 * MINUTE), NOW)
    assert _kinds(out) == [("resolve", "")]
    assert ev.open_alarms() == {}


def test_rate_of_rise() -> None:
    nh3 = series("ammonia")
    ev = Evaluator([rule(kind="rate", per_hour=6, window_s=1800)])
    # +0.05 per minute = 3/h: fine; then +0.2 per minute = 12/h
    out = ev.feed(samples(nh3, [1 + 0.05 * i for i in range(10)]), NOW)
    assert out == []
    out = ev.feed(samples(nh3, [1.5 + 0.2 * i for i in range(1, 30)], start=T0 + 10 * MINUTE), NOW)
    assert _kinds(out)[:1] == [("open", "warning")]


def test_aqi_level_opens_escalates_and_resolves() -> None:
    pm = series("pm2_5")
    ev = Evaluator([rule(kind="aqi", level=3)])
    hour = 3_600_000
    out = ev.feed(samples(pm, [40, 80, 120, 60], step=hour), NOW + 5 * hour)
    assert _kinds(out) == [("open", "三级"), ("level", "四级"), ("resolve", "")]
    assert "IAQI 107" in out[0].detail


def test_water_class_against_the_site_target() -> None:
    nh3n = series("ammonia_nitrogen", water_target="III")
    unknown_target = series("ammonia_nitrogen", site="s2")
    ev = Evaluator([rule(kind="water_class")])
    out = ev.feed(samples(nh3n, [0.8, 1.2, 2.5, 0.9]), NOW)
    assert _kinds(out) == [("open", "IV"), ("level", "劣V"), ("resolve", "")]
    assert ev.feed(samples(unknown_target, [5.0]), NOW) == []


def test_night_noise_in_the_station_time_zone() -> None:
    mic = series("noise_level", noise_zone="1")
    thermometer = series("air_temperature", noise_zone="1")
    ev = Evaluator([rule(kind="noise", period="night")])
    # 13:00Z is 21:00 in Shanghai (day: no opinion); 14:30Z is 22:30 (night, limit 45)
    day = T0 + 12 * 3_600_000
    night = T0 + 13 * 3_600_000 + 30 * MINUTE
    assert ev.feed([Sample(mic, day, 70)], NOW) == []
    assert ev.feed([Sample(thermometer, T0 + 14 * 3_600_000, 50)], NOW) == []
    out = ev.feed([Sample(mic, night, 48), Sample(mic, night + MINUTE, 44)], NOW)
    assert _kinds(out) == [("open", "warning"), ("resolve", "")]
    assert "over zone 1 limit 45" in out[0].detail
    # the night maximum rule: the limit + 15 dB(A)
    peaks = Evaluator([rule(kind="noise", period="night", margin_db=15)])
    out = peaks.feed([Sample(mic, night, 59.9), Sample(mic, night + MINUTE, 60.1)], NOW)
    assert [(t.kind, t.time_ms) for t in out] == [("open", night + MINUTE)]


def test_rainfall_and_displacement_combination() -> None:
    rain = series("rainfall", device="rg")
    crack = series("displacement", device="cm")
    ev = Evaluator(
        [
            rule(
                kind="geohazard",
                rain_reading="increment",
                rain_window_s=6 * 3600,
                rate_window_s=6 * 3600,
                levels=[
                    {"level": "blue", "rain_mm": 20, "displacement_mm_per_day": 2},
                    {"level": "yellow", "rain_mm": 50, "displacement_mm_per_day": 5},
                    {"level": "red", "rain_mm": 100, "displacement_mm_per_day": 20},
                ],
            )
        ]
    )
    hour = 3_600_000
    batch = [Sample(crack, T0, 10.0)]
    # 30 mm over 3 h, crack creeping 0.5 mm/h = 12 mm/d -> blue (rain below yellow's 50)
    for h in range(1, 4):
        batch += [Sample(rain, T0 + h * hour, 10.0), Sample(crack, T0 + h * hour, 10 + 0.5 * h)]
    out = ev.feed(batch, NOW + 6 * hour)
    assert _kinds(out) == [("open", "blue")]
    assert out[0].subject == "s1"
    # a downpour: 40 mm more -> 70 mm in 6 h with 12 mm/d -> yellow
    out = ev.feed([Sample(rain, T0 + 4 * hour, 40.0), Sample(crack, T0 + 4 * hour, 12.0)], NOW)
    assert _kinds(out) == [("level", "yellow")]
    # rain alone without movement does not warn: the displacement window goes flat
    quiet = Evaluator(ev._rules.values())
    flat = [Sample(crack, T0 + h * hour, 10.0) for h in range(4)]
    flat += [Sample(rain, T0 + h * hour, 60.0) for h in range(1, 4)]
    assert quiet.feed(flat, NOW) == []


def test_a_rain_gauge_counter_with_a_reset() -> None:
    # quantities.yaml's rainfall is the gauge's total since it was cleared
    gauge = series("rainfall", device="rg")
    crack = series("displacement", device="cm")
    limits = [{"level": "orange", "rain_mm": 50, "displacement_mm_per_day": 1}]
    ev = Evaluator([rule(kind="geohazard", rain_window_s=86400, levels=limits)])
    hour = 3_600_000
    moves = [Sample(crack, T0, 0.0), Sample(crack, T0 + 12 * hour, 5.0)]
    # 1200 -> 1230 (30 mm), cleared, then 0 -> 25 (25 mm): 55 mm in the window
    rain = [Sample(gauge, T0 + h * hour, mm) for h, mm in ((1, 1200), (2, 1230), (3, 0), (4, 25))]
    out = ev.feed(moves[:1] + rain + moves[1:], NOW + 24 * hour)
    assert _kinds(out) == [("open", "orange")]
    assert "rain 55.0 mm" in out[0].detail


def test_silence_of_a_series_and_of_a_gateway() -> None:
    temp = series("air_temperature", interval_s=60)
    ev = Evaluator(
        [
            rule(id="quiet-series", kind="absence", multiple=3),
            rule(id="gw-offline", kind="absence", target="gateway", after_s=900),
        ]
    )
    ev.feed(samples(temp, [20.0, 20.1]), T0 + MINUTE)
    assert ev.tick(T0 + 3 * MINUTE) == []
    out = ev.tick(T0 + 5 * MINUTE)
    assert [(t.rule_id, t.kind) for t in out] == [("quiet-series", "open")]
    assert ev.tick(T0 + 6 * MINUTE) == []  # already open: no repeat
    out = ev.feed(samples(temp, [20.3], start=T0 + 7 * MINUTE), T0 + 7 * MINUTE)
    assert [(t.rule_id, t.kind) for t in out] == [("quiet-series", "resolve")]
    off = GatewayStatus("env", "gw-1", T0 + 8 * MINUTE, online=False, site="s1")
    assert _kinds(ev.status(off, T0 + 8 * MINUTE)) == [("open", "warning")]
    assert ev.status(off, T0 + 9 * MINUTE) == []
    on = GatewayStatus("env", "gw-1", T0 + 10 * MINUTE, online=True, site="s1")
    assert _kinds(ev.status(on, T0 + 10 * MINUTE)) == [("resolve", "")]


def test_a_series_registered_but_never_heard_from_goes_silent() -> None:
    temp = series("air_temperature", interval_s=60)
    ev = Evaluator([rule(kind="absence", after_s=600)])
    ev.watch(temp, since_ms=T0)
    assert [t.kind for t in ev.tick(T0 + 11 * MINUTE)] == ["open"]


def test_a_restart_neither_refires_nor_forgets() -> None:
    do = series("dissolved_oxygen")
    rules = [rule(kind="threshold", below=3.0, clear=3.5)]
    first = Evaluator(rules)
    assert _kinds(first.feed(samples(do, [2.0]), NOW)) == [("open", "warning")]
    restarted = Evaluator(rules, snapshot=first.snapshot())
    assert restarted.open_alarms() == {"r1|gw-1/d1/dissolved_oxygen": 1}
    assert restarted.feed(samples(do, [2.1], start=T0 + MINUTE), NOW) == []
    assert _kinds(restarted.feed(samples(do, [4.0], start=T0 + 2 * MINUTE), NOW)) == [
        ("resolve", "")
    ]


def test_replayed_and_stale_readings_change_nothing() -> None:
    do = series("dissolved_oxygen")
    ev = Evaluator([rule(kind="threshold", below=3.0)])
    batch = samples(do, [2.0, 4.0])
    assert len(ev.feed(batch, NOW)) == 2
    assert ev.feed(batch, NOW) == []
    assert ev.feed(samples(do, [1.0], start=T0 - MINUTE), NOW) == []


def test_backfill_is_evaluated_in_time_order_and_marked_late() -> None:
    do = series("dissolved_oxygen")
    ev = Evaluator([rule(kind="threshold", below=3.0)], late_after_s=600)
    backlog = samples(do, [4.0, 2.0, 2.5, 3.5])
    out = ev.feed(list(reversed(backlog)), T0 + 2 * 3_600_000)
    assert [(t.kind, t.time_ms, t.late) for t in out] == [
        ("open", T0 + MINUTE, True),
        ("resolve", T0 + 3 * MINUTE, True),
    ]
    fresh = ev.feed(samples(do, [2.0], start=T0 + 119 * MINUTE), T0 + 120 * MINUTE)
    assert [t.late for t in fresh] == [False]


def test_rules_see_only_their_tenant_and_scope() -> None:
    theirs = series("dissolved_oxygen", tenant="water")
    other_site = series("dissolved_oxygen", site="s9")
    in_region = series("dissolved_oxygen", region="330102")
    ev = Evaluator([rule(kind="threshold", below=3.0, scope={"regions": ["330100"]})])
    assert ev.feed(samples(theirs, [1.0]), NOW) == []
    assert ev.feed(samples(other_site, [1.0]), NOW) == []
    assert [t.kind for t in ev.feed(samples(in_region, [1.0]), NOW)] == ["open"]


def test_disabled_rules_do_nothing() -> None:
    ev = Evaluator([rule(kind="threshold", below=3.0, enabled=False)])
    assert ev.feed(samples(series("dissolved_oxygen"), [1.0]), NOW) == []


def test_standards_rules_can_rate_a_moving_mean() -> None:
    pm = series("pm2_5")
    ev = Evaluator([rule(kind="aqi", level=3, average_s=3600)])
    # one-minute spikes to 200 among readings of 40: the 1-h mean stays below 75 (IAQI 100)
    spiky = [200.0 if i % 10 == 0 else 40.0 for i in range(60)]
    assert ev.feed(samples(pm, spiky), NOW) == []
    # an hour at 120 lifts the moving mean past 75 (三级), then past 115 (四级)
    out = ev.feed(samples(pm, [120.0] * 60, start=T0 + 60 * MINUTE), NOW)
    assert [(t.kind, t.level) for t in out] == [("open", "三级"), ("level", "四级")]


def test_noise_moving_mean_is_an_energy_mean() -> None:
    mic = series("noise_level", noise_zone="2")
    ev = Evaluator([rule(kind="noise", period="night", average_s=600)])
    night = T0 + 14 * 3_600_000  # 22:00 to 22:09 in Shanghai; limit 50
    # nine quiet minutes at 40 and one at 60: arithmetic mean 42, Leq 50.4 -> over
    levels = [40.0] * 9 + [60.0]
    out = ev.feed(samples(mic, levels, start=night), NOW + 24 * 3_600_000)
    assert [t.kind for t in out] == ["open"]
    assert "level 50.4 dB(A)" in out[0].detail


def test_a_series_is_bound_once_and_rebound_when_it_changes() -> None:
    """Bindings are kept per series: the same series costs no new binding, a changed one
    (a new interval) replaces its entry instead of piling up beside it."""
    ev = Evaluator([rule(kind="absence", multiple=3), rule(id="r2", kind="rate", per_hour=6)])
    first = ev.bindings(series("pm10", interval_s=60.0))
    assert ev.bindings(series("pm10", interval_s=60.0)) is first
    assert [(b.rule.id, b.limit_ms) for b in first] == [("r1", 180_000), ("r2", None)]
    for seconds in range(61, 161):
        rebound = ev.bindings(series("pm10", interval_s=float(seconds)))
    assert [(b.rule.id, b.limit_ms) for b in rebound] == [("r1", 480_000), ("r2", None)]
    assert rebound[0].state is first[0].state  # one state per rule and subject
    assert len(ev._bound) == 1  # the cache stays one entry per series


def test_what_rules_watch_bounds_the_readings_read() -> None:
    from cloud.alarms.scope import Watched, watched, watches  # noqa: PLC0415

    geo = rule(id="g", kind="geohazard", levels=[{"level": "blue", "rain_mm": 1,
                                                  "displacement_mm_per_day": 1}])  # fmt: skip
    scoped = rule(id="t", kind="threshold", above=1, scope={"quantities": ["nh3", "pm10"]})
    night = rule(id="n", kind="noise", tenant="city", scope={"quantities": ["pm10", "noise_level"]})
    assert watched([]) == Watched(frozenset(), frozenset())
    assert watched([geo, scoped, night]) == Watched(
        frozenset({"env", "city"}), frozenset({"rainfall", "displacement", "nh3", "pm10",
                                              "noise_level"})
    )  # fmt: skip
    # one rule on any quantity: every quantity is read
    assert watched([scoped, rule(id="a", kind="absence", multiple=3)]).quantities is None
    # whatever a rule watches (and judges: a noise rule only its own quantity) lies
    # inside what the set says
    rules = [geo, scoped, night]
    bounds = watched(rules)
    assert bounds.quantities is not None
    for quantity in ("rainfall", "displacement", "nh3", "pm10", "noise_level", "so2"):
        for tenant in ("env", "city", "farm"):
            s = series(quantity, tenant=tenant)
            judged = [
                r for r in rules if watches(r, s) and (r is not night or quantity == "noise_level")
            ]
            if judged:
                assert quantity in bounds.quantities
                assert tenant in bounds.tenants
