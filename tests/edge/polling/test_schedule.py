"""Schedule: which devices are due at time t (pure, time passed in)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.polling.schedule import Schedule, backoff_s


def test_every_device_is_due_at_start() -> None:
    schedule = Schedule({"a": 5.0, "b": 2.0}, start_s=100.0)
    assert schedule.due(99.9) == []
    assert schedule.due(100.0) == ["a", "b"]


def test_devices_follow_their_own_interval() -> None:
    schedule = Schedule({"a": 5.0, "b": 2.0}, start_s=0.0)
    for device in schedule.due(0.0):
        schedule.polled(device, 0.1)
    assert schedule.due(1.9) == []
    assert schedule.due(2.0) == ["b"]
    schedule.polled("b", 2.05)
    assert schedule.due(4.0) == ["b"]
    schedule.polled("b", 4.0)
    assert schedule.due(5.0) == ["a"]


def test_slow_polls_do_not_drift_the_grid() -> None:
    schedule = Schedule({"a": 1.0}, start_s=0.0)
    assert schedule.polled("a", 0.4) == 1.0  # the poll took 0.4 s; still due at 1.0
    assert schedule.polled("a", 1.3) == 2.0


def test_missed_slots_are_skipped_not_polled_in_a_burst() -> None:
    schedule = Schedule({"a": 1.0}, start_s=0.0)
    assert schedule.polled("a", 3.5) == 4.0
    assert schedule.due(3.9) == []
    assert schedule.polled("a", 5.0) == 6.0  # exactly on a slot: the next one


def test_wait_until_next_due() -> None:
    schedule = Schedule({"a": 3.0, "b": 1.0}, start_s=10.0)
    assert schedule.wait_s(9.0) == pytest.approx(1.0)
    assert schedule.wait_s(12.0) == 0.0
    schedule.polled("a", 10.0)
    schedule.polled("b", 10.0)
    assert schedule.next_due_s() == pytest.approx(11.0)
    assert schedule.wait_s(10.5) == pytest.approx(0.5)


def test_without_devices_nothing_is_ever_due() -> None:
    schedule = Schedule({}, start_s=0.0)
    assert schedule.due(1e9) == []
    assert schedule.wait_s(0.0) is None


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="'a': interval_s must be positive"):
        Schedule({"a": 0.0}, start_s=0.0)


def test_slots_jumped_over_are_counted_as_missed() -> None:
    schedule = Schedule({"a": 1.0, "b": 1.0}, 0.0)
    schedule.polled("a", 0.5)
    assert schedule.missed("a") == 0
    schedule.polled("a", 3.2)  # slots 2 and 3 passed while the bus was busy
    assert schedule.missed("a") == 2
    assert schedule.missed("b") == 0


def test_backoff_starts_at_the_next_slot_then_doubles_up_to_the_ceiling() -> None:
    delays = [backoff_s(n, 2.0, 30.0) for n in range(1, 8)]
    assert delays == [0.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert backoff_s(5, 100.0, 30.0) == 100.0  # never shorter than the interval


@given(
    st.integers(0, 10_000),
    st.floats(0.05, 86400),
    st.floats(0.01, 3600),
)
def test_backoff_is_bounded_and_never_shrinks(
    failures: int, interval_s: float, max_s: float
) -> None:
    delay = backoff_s(failures, interval_s, max_s)
    assert 0.0 <= delay <= max(max_s, interval_s)
    assert backoff_s(failures + 1, interval_s, max_s) >= delay
