"""Properties of a series' poll interval as learnt from its readings' gaps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cloud.alarms.intervals import NOT_YET, TOLERANCE, Interval, learn

polls = st.sampled_from([1.0, 10.0, 60.0, 300.0, 3600.0])
jitters = st.lists(st.floats(-0.09, 0.09), min_size=1, max_size=50)


def _after(gaps: list[float], start: Interval = NOT_YET) -> Interval:
    interval = start
    for gap in gaps:
        interval = learn(interval, gap)
    return interval


@given(polls, jitters)
def test_clock_jitter_leaves_the_interval_as_it_is(poll: float, jitter: list[float]) -> None:
    learnt = _after([poll])
    assert _after([poll * (1 + j) for j in jitter], learnt).seconds == poll


@given(polls, st.floats(1.2, 100), st.integers(1, 20))
def test_one_long_gap_between_regular_ones_never_stretches_the_interval(
    poll: float, factor: float, regular: int
) -> None:
    gaps = [poll] * regular + [poll * factor] + [poll] * regular
    for n in range(1, len(gaps) + 1):
        assert _after(gaps[:n]).seconds == poll


@given(polls, st.floats(1.2, 100))
def test_a_changed_poll_interval_is_learnt_after_two_gaps(poll: float, factor: float) -> None:
    slower = poll * factor
    assert _after([poll, slower]).seconds == poll
    assert _after([poll, slower, slower]).seconds == slower
    faster = poll / factor
    assert _after([poll, faster]).seconds == faster  # a shorter gap: at once


@given(st.lists(st.floats(0.1, 10_000), min_size=1, max_size=60))
def test_it_is_a_gap_seen_and_rises_only_on_two_agreeing_gaps(gaps: list[float]) -> None:
    interval = NOT_YET
    for index, gap in enumerate(gaps):
        before, interval = interval, learn(interval, gap)
        assert interval.seconds in gaps[: index + 1]
        if before.seconds is not None and interval.seconds > before.seconds:  # type: ignore[operator]
            previous = gaps[index - 1]
            assert interval.seconds == gap
            assert abs(gap - previous) <= TOLERANCE * previous
