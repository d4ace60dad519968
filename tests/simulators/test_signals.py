"""Signal generators: deterministic, within the quantity's range, with a daily cycle."""

from __future__ import annotations

import itertools

import pytest

from device_profiles import builtin_profile, load_quantities
from simulators.signals import MODELS, diurnal, diurnal_value, physical_value, shape_for

QUANTITIES = load_quantities()
NOON_UTC = 1_700_006_400.0  # 2023-11-15 00:00 UTC is 08:00 in UTC+8


@pytest.mark.parametrize("code", sorted(QUANTITIES))
def test_values_stay_in_the_plausible_range(code: str) -> None:
    quantity = QUANTITIES[code]
    for step in range(0, 86_400, 900):
        value = diurnal_value(quantity, NOON_UTC + step, seed=7, key="k")
        assert quantity.min <= value <= quantity.max


def test_same_seed_key_and_time_give_the_same_value() -> None:
    quantity = QUANTITIES["air_temperature"]
    first = diurnal_value(quantity, NOON_UTC + 0.5, seed=3, key="1:temperature")
    again = diurnal_value(quantity, NOON_UTC + 0.5, seed=3, key="1:temperature")
    assert first == again
    assert first == pytest.approx(18.2505, abs=1e-4)  # the same on every machine


def test_keys_and_seeds_give_independent_noise() -> None:
    quantity = QUANTITIES["air_temperature"]
    values = {
        diurnal_value(quantity, NOON_UTC, seed=seed, key=key)
        for seed in (1, 2)
        for key in ("1:temperature", "2:temperature")
    }
    assert len(values) == 4


def test_temperature_peaks_in_the_afternoon_and_humidity_before_dawn() -> None:
    temperature, humidity = QUANTITIES["air_temperature"], QUANTITIES["relative_humidity"]
    local_hour = 3600.0
    two_pm = NOON_UTC + 6 * local_hour  # 14:00 in UTC+8
    two_am = NOON_UTC + 18 * local_hour  # 02:00 in UTC+8
    assert diurnal_value(temperature, two_pm) > diurnal_value(temperature, two_am) + 8
    assert diurnal_value(humidity, two_am) > diurnal_value(humidity, two_pm) + 15


def test_unknown_quantities_get_a_shape_inside_their_range() -> None:
    quantity = QUANTITIES["tsp"]
    shape = shape_for(quantity)
    assert quantity.min < shape.centre - shape.amplitude - shape.noise
    assert shape.centre + shape.amplitude + shape.noise < quantity.max


def test_generator_gives_each_slave_and_point_its_own_signal() -> None:
    profile = builtin_profile("jxct-th-rs485")
    point = profile.point("temperature")
    quantity = QUANTITIES[point.quantity]
    generate = diurnal(seed=11)
    assert generate(1, point, quantity, NOON_UTC) != generate(2, point, quantity, NOON_UTC)
    assert generate(1, point, quantity, NOON_UTC) == diurnal(seed=11)(1, point, quantity, NOON_UTC)


# --- physical models ----------------------------------------------------------------------

Q = load_quantities()
MIDNIGHT_LOCAL = 1_764_432_000.0  # 2025-11-30 00:00 UTC+8


def _at(code: str, hour: float, day: int = 0, seed: int = 1, key: str = "k") -> float:
    time_s = MIDNIGHT_LOCAL + day * 86_400 + hour * 3600
    return physical_value(Q[code], time_s, seed=seed, key=key)


@pytest.mark.parametrize("code", sorted(MODELS))
def test_physical_values_are_deterministic_and_in_range(code: str) -> None:
    quantity = Q[code]
    for hour in range(0, 48, 7):
        value = _at(code, hour)
        assert value == _at(code, hour)
        assert quantity.min <= value <= quantity.max


def test_dissolved_oxygen_falls_through_the_night() -> None:
    for day in range(5):
        dusk, midnight, dawn = (_at("dissolved_oxygen", h, day) for h in (17, 24, 5.5))
        assert dusk > midnight > dawn
        assert _at("dissolved_oxygen", 16, day) - dawn > 3.0


def test_noise_is_quieter_at_night() -> None:
    for day in range(5):
        day_level = sum(_at("noise_level", h, day) for h in range(8, 20)) / 12
        night_level = sum(_at("noise_level", h, day) for h in (0, 1, 2, 3, 23)) / 5
        assert day_level - night_level > 8


def test_soil_dries_between_irrigation_events_and_is_rewetted() -> None:
    series = [_at("soil_moisture", h) for h in range(0, 24 * 12)]
    rises = [b - a for a, b in itertools.pairwise(series) if b - a > 5]
    assert rises, "no irrigation event in twelve days"
    falling = sum(1 for a, b in itertools.pairwise(series) if b < a + 0.5)
    assert falling > 0.8 * len(series)


def test_pm_episodes_raise_some_days_well_above_others() -> None:
    daily = [sum(_at("pm2_5", h, day, seed=2) for h in range(24)) / 24 for day in range(30)]
    assert max(daily) > 2 * min(daily)


def test_rain_accumulates_within_a_day_and_rain_events_happen() -> None:
    wet = 0
    for day in range(20):
        totals = [_at("rainfall", h, day) for h in range(24)]
        assert totals == sorted(totals)
        wet += totals[-1] > 0
        assert _at("rain_tips", 23.5, day) == pytest.approx(
            int(_at("rainfall", 23.5, day) / 0.1), abs=1
        )
    assert 0 < wet < 20


def test_illuminance_is_dark_at_night_and_bright_at_noon() -> None:
    assert _at("illuminance", 2) == 0
    assert _at("illuminance", 13) > 20_000
