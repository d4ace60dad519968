"""Properties of the evaluator over random reading sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.alarms import Evaluator, Rule, Sample, Transition
from tests.cloud.alarms.helpers import MINUTE, T0, rule, samples, series

NOW = T0 + 10 * 24 * 3_600_000
values = st.lists(st.floats(0, 10), min_size=1, max_size=60)
durations = st.sampled_from([0, 60, 300])


def _threshold(for_s: int, clear_for_s: int = 0, clear: float | None = 4.0) -> Evaluator:
    return Evaluator(
        [rule(kind="threshold", above=5.0, clear=clear, for_s=for_s, clear_for_s=clear_for_s)]
    )


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values, durations, durations)
def test_transitions_alternate_open_and_resolve(
    readings: list[float], for_s: int, clear_for_s: int
) -> None:
    out = _threshold(for_s, clear_for_s).feed(samples(series("x"), readings), NOW)
    kinds = [t.kind for t in out]
    assert kinds == ["open", "resolve"] * (len(kinds) // 2) + ["open"] * (len(kinds) % 2)
    times = [t.time_ms for t in out]
    assert times == sorted(times)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values)
def test_without_duration_or_hysteresis_the_alarm_follows_the_condition(
    readings: list[float],
) -> None:
    ev = _threshold(0, clear=None)
    for index, value in enumerate(readings):
        ev.feed(samples(series("x"), [value], start=T0 + index * MINUTE), NOW)
        assert bool(ev.open_alarms()) == (value > 5.0)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values, durations)
def test_a_minimum_duration_never_opens_before_the_condition_held_that_long(
    readings: list[float], for_s: int
) -> None:
    out = _threshold(for_s).feed(samples(series("x"), readings), NOW)
    for transition in (t for t in out if t.kind == "open"):
        index = (transition.time_ms - T0) // MINUTE
        held = readings[max(0, index - for_s // 60) : index + 1]
        assert all(v > 5.0 for v in held)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values, durations, st.integers(0, 60))
def test_a_restart_anywhere_gives_the_same_transitions(
    readings: list[float], for_s: int, split: int
) -> None:
    batch = samples(series("x"), readings)
    whole = _threshold(for_s).feed(batch, NOW)
    first = _threshold(for_s)
    before = first.feed(batch[:split], NOW)
    restarted = Evaluator(first._rules.values(), snapshot=first.snapshot())
    after = restarted.feed(batch[split:], NOW)
    assert _plain(before + after) == _plain(whole)


steps_of_readings = st.lists(st.lists(st.floats(0, 10), max_size=5), max_size=12)


def _stream(steps: list[list[float]]) -> list[list[Sample]]:
    stream, start = [], T0
    for values in steps:
        stream.append(samples(series("x"), values, start=start))
        start += len(values) * MINUTE
    return stream


def _windowed_rules(for_s: int) -> list[Rule]:
    return [
        rule(kind="threshold", above=5.0, clear=4.0, for_s=for_s),
        rule(id="r2", kind="rate", per_hour=200.0, window_s=600),
    ]


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(steps_of_readings, durations, st.integers(0, 12), st.booleans())
def test_a_restart_from_a_checkpoint_gives_the_same_transitions(
    steps: list[list[float]], for_s: int, split: int, overlap: bool
) -> None:
    """As the evaluator process saves: after each step the states whose alarm changed,
    and at the checkpoint before the restart (a tick, a stop) every state changed; a
    restart loads those, and the feed may bring the last readings before the restart
    again (a batch whose span overlaps)."""
    rules, stream = _windowed_rules(for_s), _stream(steps)
    whole = Evaluator(rules)
    expected = [t for step in stream for t in whole.feed(step, NOW)]
    live, saved = Evaluator(rules), {}
    before = []
    for step in stream[:split]:
        before += live.feed(step, NOW)
        saved |= live.states_of(live.take_dirty())
    saved |= live.states_of(live.take_touched())
    restarted = Evaluator(rules, snapshot=saved)
    again = stream[split - 1] if overlap and 0 < split <= len(stream) else []
    after = [t for step in [again, *stream[split:]] for t in restarted.feed(step, NOW)]
    assert _plain(before + after) == _plain(expected)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(steps_of_readings, durations, st.integers(0, 12), st.integers(0, 12))
def test_a_crash_between_checkpoints_neither_forgets_nor_refires_an_alarm(
    steps: list[list[float]], for_s: int, checkpoint: int, crash: int
) -> None:
    """A crash after the steps' saves but before the next checkpoint: windows lose their
    newest points; every open or pending alarm is restored as it was, nothing opens
    twice, and a rule without a window gives exactly the transitions it would have."""
    rules, stream = _windowed_rules(for_s), _stream(steps)
    checkpoint = min(checkpoint, crash)
    whole = Evaluator(rules)
    expected = [t for step in stream for t in whole.feed(step, NOW)]
    live, saved = Evaluator(rules), {}
    before = []
    for index, step in enumerate(stream[:crash]):
        before += live.feed(step, NOW)
        saved |= live.states_of(live.take_dirty())
        if index + 1 == checkpoint:
            saved |= live.states_of(live.take_touched())
    restarted = Evaluator(rules, snapshot=saved)
    assert restarted.open_alarms() == live.open_alarms()
    assert {k: (s["level"], s["candidate"], s["candidate_since_ms"]) for k, s in saved.items()} \
        == {k: (s["level"], s["candidate"], s["candidate_since_ms"])
            for k, s in live.snapshot().items() if k in saved}  # fmt: skip
    after = [t for step in stream[crash:] for t in restarted.feed(step, NOW)]
    for rule_id in ("r1", "r2"):
        kinds = [t.kind for t in before + after if t.rule_id == rule_id]
        # open and resolve alternate across the crash: no alarm opened twice, none lost
        assert kinds == ["open", "resolve"] * (len(kinds) // 2) + ["open"] * (len(kinds) % 2)
    threshold_only = [t for t in before + after if t.rule_id == "r1"]
    assert _plain(threshold_only) == _plain([t for t in expected if t.rule_id == "r1"])


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values, durations)
def test_replaying_every_batch_changes_nothing(readings: list[float], for_s: int) -> None:
    batch = samples(series("x"), readings)
    ev = _threshold(for_s)
    first = ev.feed(batch, NOW)
    assert ev.feed(batch, NOW) == []
    assert _plain(first) == _plain(_threshold(for_s).feed(batch, NOW))


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.lists(st.floats(0, 500), min_size=1, max_size=40))
def test_aqi_alarm_level_is_the_iaqi_level_of_the_last_reading(readings: list[float]) -> None:
    from cloud.standards import iaqi, level_of  # noqa: PLC0415
    from cloud.standards.aqi_tables import HOURLY  # noqa: PLC0415

    ev = Evaluator([rule(kind="aqi", level=2)])
    ev.feed(samples(series("pm10"), readings), NOW)
    expected = level_of(iaqi(readings[-1], HOURLY["pm10"])[0]).number
    assert ev.open_alarms() == ({} if expected < 2 else {"r1|gw-1/d1/pm10": expected})


def _plain(transitions: list[Transition]) -> list[tuple[str, int, str]]:
    return [(t.kind, t.time_ms, t.level) for t in transitions]


LEVELS = [
    {"level": "blue", "rain_mm": 20, "displacement_mm_per_day": 1},
    {"level": "yellow", "rain_mm": 50, "displacement_mm_per_day": 5},
    {"level": "orange", "rain_mm": 80, "displacement_mm_per_day": 10},
    {"level": "red", "rain_mm": 120, "displacement_mm_per_day": 20},
]


def _geo_level(rain_mm: float, moved_mm: float) -> int:

    geo = {"kind": "geohazard", "rain_reading": "increment", "levels": LEVELS}
    ev = Evaluator([rule(rain_window_s=86400, rate_window_s=86400, **geo)])
    hour = 3_600_000
    ev.feed(
        [
            Sample(series("displacement", device="cm"), T0, 0.0),
            Sample(series("rainfall", device="rg"), T0 + hour, rain_mm),
            Sample(series("displacement", device="cm"), T0 + 24 * hour, moved_mm),
        ],
        NOW,
    )
    return ev.open_alarms().get("r1|s1", 0)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.floats(0, 200), st.floats(0, 200), st.floats(0, 40), st.floats(0, 40))
def test_geohazard_level_grows_with_rain_and_displacement(
    rain_a: float, rain_b: float, move_a: float, move_b: float
) -> None:
    low_rain, high_rain = sorted((rain_a, rain_b))
    low_move, high_move = sorted((move_a, move_b))
    assert _geo_level(low_rain, low_move) <= _geo_level(high_rain, high_move)
    expected = sum(
        1 for lv in LEVELS if low_rain > lv["rain_mm"] and low_move > lv["displacement_mm_per_day"]
    )
    assert _geo_level(low_rain, low_move) == expected


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(values, st.integers(0, 120))
def test_late_marks_exactly_the_transitions_of_old_readings(
    readings: list[float], now_minute: int
) -> None:
    now = T0 + now_minute * MINUTE
    ev = Evaluator([rule(kind="threshold", above=5.0)], late_after_s=600)
    for transition in ev.feed(samples(series("x"), readings), now):
        assert transition.late == (now - transition.time_ms > 600_000)
