"""Daily and real-time reports of a station from its hourly means."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.standards.aqi_reports import daily_report, hourly_report


def test_daily_report_from_a_full_day() -> None:
    o3: list[float | None] = [60.0] * 24
    o3[12:20] = [170.0] * 8  # an 8-h plateau at 170 µg/m³
    report = daily_report({"pm2_5": [75.0] * 24, "o3": o3, "no2": [40.0] * 24})
    assert report.means["pm2_5"] == 75
    assert report.means["o3"] == 170
    assert report.means["o3_8h"] == 170
    assert report.result is not None
    assert report.result.aqi == 110  # O3 8-h: ceil(100 + 50 x 10/55) = ceil(109.09)
    assert report.result.primary == ("o3_8h",)
    assert report.invalid == ()


def test_a_day_with_too_few_hours_leaves_the_pollutant_out() -> None:
    report = daily_report({"pm2_5": [300.0] * 19 + [None] * 5, "pm10": [100.0] * 24})
    assert report.invalid == ("pm2_5",)
    assert report.result is not None
    assert report.result.aqi == 75
    empty = daily_report({"pm2_5": [None] * 24})
    assert empty.result is None
    with pytest.raises(ValueError, match="24"):
        daily_report({"o3": [1.0] * 5})


def test_hourly_report_uses_the_last_hour_and_the_8h_mean() -> None:
    report = hourly_report({"o3": [100.0] * 7 + [300.0], "pm10": [40.0, 150.0]})
    assert report.means == {"o3": 300, "o3_8h": 125, "pm10": 150}
    assert report.result is not None
    assert report.result.aqi == 150  # O3 1-h 300 -> 150


def test_hourly_so2_above_800_needs_a_valid_24h_mean() -> None:
    with_day = hourly_report({"so2": [400.0] * 23 + [900.0]})
    assert with_day.result is not None
    assert with_day.means["so2_24h"] == pytest.approx((400 * 23 + 900) / 24)
    short = hourly_report({"so2": [900.0], "pm10": [50.0]})
    assert short.invalid == ("so2",)
    assert short.result is not None
    assert short.result.aqi == 50


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.lists(st.one_of(st.none(), st.floats(0, 600)), min_size=24, max_size=24))
def test_daily_report_never_raises_on_hourly_data(hours: list[float | None]) -> None:
    report = daily_report(dict.fromkeys(("so2", "no2", "pm10", "pm2_5", "o3"), hours))
    if report.result is not None:
        assert report.result.aqi == max(s.iaqi for s in report.result.sub_indices)


def test_hourly_report_can_rate_pm_by_the_24h_moving_mean() -> None:
    pm: list[float | None] = [35.0] * 23 + [115.0]
    assert hourly_report({"pm2_5": pm}).means["pm2_5"] == 115
    moving = hourly_report({"pm2_5": pm}, pm="24h")
    assert moving.means["pm2_5"] == pytest.approx((35 * 23 + 115) / 24)
    short = hourly_report({"pm2_5": [None] * 5 + [115.0]}, pm="24h")
    assert (short.invalid, short.result) == (("pm2_5",), None)
