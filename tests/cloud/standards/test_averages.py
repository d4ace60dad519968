"""GB 3095-2012 validity of means, and the O3 8-hour moving mean of HJ 633."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.standards import daily_max_8h, daily_mean, rolling_8h
from cloud.standards.averages import day_slots


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


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.lists(st.one_of(st.none(), st.floats(0, 1000)), min_size=24, max_size=24))
def test_the_daily_max_is_one_of_the_moving_means(hours: list[float | None]) -> None:
    best = daily_max_8h(hours)
    windows = [m for m in rolling_8h(hours)[7:] if m is not None]
    if best is None:
        assert len(windows) < 14
    else:
        assert best == max(windows)


def test_day_slots_in_the_station_time_zone() -> None:
    # hourly means from 2026-11-29T14:00Z: 22:00 local on the 29th, then the 30th from 16:00Z
    start = datetime(2026, 11, 29, 14, tzinfo=UTC)
    hourly = [(start + timedelta(hours=h), float(h)) for h in range(30) if h != 12]
    slots = day_slots(hourly, date(2026, 11, 30), ZoneInfo("Asia/Shanghai"))
    assert slots[0] == 2.0  # 00:00 local = 16:00Z on the 29th, the third hour given
    assert slots[10] is None  # hour 12 of the input was missing
    assert slots[23] == 25.0
    assert sum(s is None for s in slots) == 1
    with pytest.raises(ValueError, match="offset"):
        day_slots([(datetime(2026, 11, 30), 1.0)], date(2026, 11, 30), UTC)
