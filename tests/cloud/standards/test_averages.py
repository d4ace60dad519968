"""GB 3095-2012 validity of means, and the O3 8-hour moving mean of HJ 633."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.standards import daily_max_8h, daily_mean, rolling_8h


def test_daily_mean_needs_20_hours() -> None:
    day: list[float | None] = [10.0] * 20 + [None] * 4
    assert daily_mean(day) == 10
    assert daily_mean([10.0] * 19 + [None] * 5) is None
    with pytest.raises(ValueError, match="24"):
        daily_mean([1.0] * 23)


def test_rolling_8h_needs_6_of_8_hours() -> None:
    hours: list[float | None] = [float(h) for h in range(24)]
    means = rolling_8h(hours)
    assert means[:7] == [None] * 7
    assert means[7] == 3.5  # hours 0..7
    gappy = list(hours)
    gappy[8] = gappy[9] = None
    assert rolling_8h(gappy)[9] == pytest.approx(sum(range(2, 8)) / 6)
    gappy[10] = None
    assert rolling_8h(gappy)[10] is None


def test_daily_max_8h_over_windows_ending_8_to_24() -> None:
    hours: list[float | None] = [50.0] * 24
    hours[14:17] = [210.0, 220.0, 200.0]
    # the best window holds the three peak hours and five hours at 50
    assert daily_max_8h(hours) == pytest.approx((630 + 5 * 50) / 8)
    sparse: list[float | None] = [50.0] * 10 + [None] * 14
    assert daily_max_8h(sparse) is None  # far fewer than 14 valid windows


@given(st.lists(st.one_of(st.none(), st.floats(0, 1000)), min_size=24, max_size=24))
def test_the_daily_max_is_one_of_the_moving_means(hours: list[float | None]) -> None:
    best = daily_max_8h(hours)
    windows = [m for m in rolling_8h(hours)[7:] if m is not None]
    if best is None:
        assert len(windows) < 14
    else:
        assert best == max(windows)
