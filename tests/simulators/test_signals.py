"""Signal generators: deterministic, within the quantity's range, with a daily cycle."""

from __future__ import annotations

import pytest

from device_profiles import builtin_profile, load_quantities
from simulators.signals import diurnal, diurnal_value, shape_for

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
