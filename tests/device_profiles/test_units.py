"""Unit conversion: known values, and properties (inverse, composition) over every pair."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles.units import (
    MOLAR_VOLUME_L,
    UnitError,
    conversion,
    convert,
    dimension,
    known_units,
)

VALUES = st.floats(-1e6, 1e6, allow_nan=False)
UNITS = st.sampled_from(known_units())


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize(
    ("value", "from_unit", "to_unit", "expected"),
    [
        (32.0, "°F", "°C", 0.0),
        (212.0, "°F", "°C", 100.0),
        (-40.0, "°F", "°C", -40.0),
        (0.0, "°C", "K", 273.15),
        (1013.25, "hPa", "kPa", 101.325),
        (100309.0, "Pa", "kPa", 100.309),  # FACTS §5: SenseCAP ORCH S4 worked example
        (760.0, "mmHg", "kPa", 101.325),
        (36.0, "km/h", "m/s", 10.0),
        (1.0, "mS/cm", "µS/cm", 1000.0),
        (1.0, "S/m", "mS/cm", 10.0),
        (2.5, "ppm", "ppb", 2500.0),
        (1.0, "mg/L", "mg/m³", 1000.0),
        (1500.0, "mm", "m", 1.5),
        (250.0, "nSv/h", "µSv/h", 0.25),
    ],
)
def test_known_conversions(value: float, from_unit: str, to_unit: str, expected: float) -> None:
    assert _close(convert(value, from_unit, to_unit), expected)


def test_reference_molar_volume_is_that_of_gb_3095_amendment() -> None:
    # 298.15 K, 101.325 kPa (GB 3095-2012 amendment 2018): 24.465 L/mol
    assert round(MOLAR_VOLUME_L, 3) == 24.465


def test_gas_mole_fraction_to_mass_concentration_needs_molar_mass() -> None:
    # 1 ppm SO2 (64.066 g/mol) is 64.066 / 24.465 mg/m³ = 2.6187 mg/m³ = 2618.7 µg/m³
    assert math.isclose(convert(1.0, "ppm", "µg/m³", 64.066), 2618.68, rel_tol=1e-4)
    assert math.isclose(convert(2618.68, "µg/m³", "ppm", 64.066), 1.0, rel_tol=1e-4)
    with pytest.raises(UnitError, match="molar mass"):
        conversion("ppm", "µg/m³")


@pytest.mark.parametrize(("a", "b"), [("°C", "hPa"), ("ppm", "mg/kg"), ("dB(A)", "%")])
def test_different_dimensions_refused(a: str, b: str) -> None:
    with pytest.raises(UnitError, match="cannot convert"):
        conversion(a, b)


def test_unknown_unit_lists_the_known_ones() -> None:
    with pytest.raises(UnitError, match=r"unknown unit 'furlong'.*°C"):
        dimension("furlong")


@given(value=VALUES, unit=UNITS)
def test_a_unit_into_itself_changes_nothing(value: float, unit: str) -> None:
    assert _close(convert(value, unit, unit), value)


@given(value=VALUES, pair=st.sampled_from(list(itertools.permutations(known_units(), 2))))
def test_there_and_back_is_identity(value: float, pair: tuple[str, str]) -> None:
    a, b = pair
    try:
        forward = conversion(a, b, 30.0)
    except UnitError:
        return
    back = conversion(b, a, 30.0)
    assert math.isclose(back(forward(value)), value, rel_tol=1e-9, abs_tol=1e-6)


@given(value=VALUES, units=st.tuples(UNITS, UNITS, UNITS))
def test_conversions_compose(value: float, units: tuple[str, str, str]) -> None:
    a, b, c = units
    try:
        ab, bc, ac = conversion(a, b, 17.0), conversion(b, c, 17.0), conversion(a, c, 17.0)
    except UnitError:
        return
    assert math.isclose(bc(ab(value)), ac(value), rel_tol=1e-9, abs_tol=1e-6)


@given(x=VALUES, y=VALUES, unit=UNITS, target=UNITS)
def test_conversions_preserve_order(x: float, y: float, unit: str, target: str) -> None:
    try:
        mapping = conversion(unit, target, 46.0)
    except UnitError:
        return
    if x < y:
        assert mapping(x) <= mapping(y)  # no unit here runs backwards
