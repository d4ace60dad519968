"""How a station is rated on the overview: AQI real-time report, water class, noise."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.api.station_ratings import air_rating, noise_rating, water_item, water_rating


def test_air_is_rated_by_the_newest_hour_with_data() -> None:
    rating = air_rating({"pm2_5": [300.0, 20.0, None], "no2": [10.0, 10.0, None]})
    assert rating is not None
    assert (rating["level"], rating["category"], rating["hex"]) == (1, "优", "#00E400")
    assert rating["rank"] == 1.0


def test_air_without_a_pollutant_mean_has_no_rating() -> None:
    assert air_rating({}) is None
    assert air_rating({"pm2_5": [None, None]}) is None
    assert air_rating({"air_temperature": [20.0]}) is None


def test_a_primary_pollutant_is_named_above_aqi_50() -> None:
    rating = air_rating({"pm2_5": [130.0], "no2": [30.0]})
    assert rating is not None
    assert rating["category"] == "中度污染"
    assert rating["primary_pollutants"] == ["pm2_5"]


def test_water_against_its_target_class() -> None:
    rating = water_rating({"dissolved_oxygen": 4.5, "ammonia_nitrogen": 0.4}, "III")
    assert rating is not None
    assert (rating["class"], rating["meets_target"]) == ("IV", False)
    assert rating["failing_items"] == ["dissolved_oxygen"]
    good = water_rating({"dissolved_oxygen": 8.0}, "III")
    assert good is not None
    assert good["meets_target"]
    assert good["rank"] < rating["rank"]


def test_water_without_a_rated_item_has_no_rating() -> None:
    assert water_rating({"water_temperature": 20.0}, "III") is None
    assert water_item("water_ph") == "ph"
    assert water_item("air_temperature") is None


def test_noise_uses_the_day_or_night_limit_of_the_local_time() -> None:
    day = noise_rating(63.0, "2", datetime(2026, 5, 1, 4, 0, tzinfo=UTC), "Asia/Shanghai")  # 12:00
    night = noise_rating(
        53.0, "2", datetime(2026, 5, 1, 15, 0, tzinfo=UTC), "Asia/Shanghai"
    )  # 23:00
    assert (day["period"], day["limit_db"], day["exceedance_db"]) == ("day", 60, 3.0)
    assert (night["period"], night["limit_db"], night["exceedance_db"]) == ("night", 50, 3.0)
    quiet = noise_rating(40.0, "2", datetime(2026, 5, 1, 4, 0, tzinfo=UTC), "Asia/Shanghai")
    assert not quiet["exceeds"]
    assert quiet["rank"] < day["rank"]


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(
    st.dictionaries(
        st.sampled_from(["pm2_5", "pm10", "no2", "so2", "co", "o3"]),
        st.lists(st.one_of(st.none(), st.floats(0, 5000)), max_size=8),
    )
)
def test_any_hourly_means_rate_or_give_none(hourly: dict[str, list[float | None]]) -> None:
    rating = air_rating(hourly)
    assert rating is None or 1 <= rating["level"] <= 6
