"""The one plausibility rule, and the measure step around it (unit, calibration, flag)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from device_profiles import (
    Calibration,
    Flag,
    InvalidRawError,
    Point,
    Quantity,
    RegisterError,
    SentinelError,
    ValidRange,
    builtin_profile,
    decode_point,
    judge,
    load_quantities,
    measure,
    profile_names,
    reflag,
)
from device_profiles.measure import from_canonical, to_canonical
from wire import Quality

HUMIDITY = Quantity(code="relative_humidity", name="RH", unit="%RH", min=0, max=100)
PRESSURE = Quantity(code="air_pressure", name="p", unit="kPa", min=30, max=110)
SO2 = Quantity(code="so2", name="SO2", unit="µg/m³", min=0, max=10000, molar_mass_g_mol=64.066)


def _point(**overrides: object) -> Point:
    fields: dict[str, object] = {
        "name": "p",
        "quantity": "air_pressure",
        "address": 0,
        "data_type": "uint16",
    }
    return Point.model_validate(fields | overrides)


def test_flags_are_the_hj212_letters_of_wire_quality() -> None:
    assert {f.value for f in Flag} == {q.value for q in Quality}
    for flag in Flag:
        assert Quality(flag).name == flag.name


@pytest.mark.parametrize(
    ("value", "kwargs", "flag"),
    [
        (50.0, {}, Flag.NORMAL),
        (100.0, {}, Flag.NORMAL),
        (100.1, {}, Flag.OVER_RANGE),
        (-0.1, {}, Flag.OVER_RANGE),
        (50.0, {"sentinel": True}, Flag.FAULT),
        (50.0, {"valid": ValidRange(min=0, max=40)}, Flag.OVER_RANGE),
        (3.0, {"enum": {0: "N", 1: "NE"}}, Flag.FAULT),
        (1.0, {"enum": {0: "N", 1: "NE"}}, Flag.NORMAL),
        (0.5, {"enum": {0: "N", 1: "NE"}}, Flag.FAULT),
    ],
)
def test_judge(value: float, kwargs: dict[str, object], flag: Flag) -> None:
    assert judge(HUMIDITY, value, **kwargs) is flag  # type: ignore[arg-type]


@given(value=st.floats(-1e4, 1e4), flag=st.sampled_from([q.value for q in Quality]))
def test_reflag_only_turns_normal_into_over_range(value: float, flag: str) -> None:
    new = reflag(flag, value, HUMIDITY)
    if flag != "N":
        assert new == flag
    else:
        assert new == ("N" if 0 <= value <= 100 else "T")
    assert reflag(flag, value, None) == flag


@given(value=st.floats(-1e4, 1e4))
def test_edge_and_cloud_agree_on_a_normal_value(value: float) -> None:
    """What the edge flags from a quantity's range is what the cloud would re-flag."""
    assert reflag("N", value, HUMIDITY) == judge(HUMIDITY, value).value


def test_measure_converts_the_sensor_unit_to_canonical() -> None:
    point = _point(unit="hPa", scale=0.1)
    measured = measure(point, PRESSURE, 1013.2)
    assert (measured.value, measured.flag) == (101.32, Flag.NORMAL)


def test_measure_checks_the_measuring_range_in_the_sensor_unit() -> None:
    point = _point(unit="hPa", valid={"min": 300, "max": 1100})
    assert measure(point, PRESSURE, 1100.0).flag is Flag.NORMAL
    assert measure(point, PRESSURE, 1100.5).flag is Flag.OVER_RANGE


def test_measure_gas_ppm_into_mass_concentration() -> None:
    point = _point(quantity="so2", unit="ppm", scale=0.01)
    measured = measure(point, SO2, 1.0)
    assert measured.value == pytest.approx(2618.68, rel=1e-4)


def test_measure_sentinels() -> None:
    point = _point(invalid_raw=[0x7FFF])
    with_value = measure(point, PRESSURE, InvalidRawError(point, 0x7FFF, 32767.0))
    assert (with_value.value, with_value.flag) == (32767.0, Flag.FAULT)
    assert with_value.problem == "p: probe reports no valid measurement (0x7fff)"
    text = measure(point, PRESSURE, SentinelError("p", "----"))
    assert (text.value, text.flag) == (None, Flag.FAULT)
    assert text.problem == "p: probe reports no valid measurement ('----')"


def test_measure_errors_and_non_finite_values_store_nothing() -> None:
    assert measure(_point(), PRESSURE, RegisterError("short")).value is None
    assert measure(_point(), PRESSURE, float("nan")).value is None


def test_measure_calibrates_after_converting() -> None:
    point = _point(unit="hPa")
    measured = measure(point, PRESSURE, 1000.0, Calibration(factor=1.01, offset=-0.5))
    assert measured.value == pytest.approx(100.5)


def test_calibration_factor_must_not_be_zero() -> None:
    with pytest.raises(ValueError, match="factor must not be 0"):
        Calibration(factor=0)


@given(value=st.floats(0, 2000, allow_nan=False))
def test_from_canonical_inverts_to_canonical(value: float) -> None:
    point = _point(unit="hPa")
    assert to_canonical(point, PRESSURE, from_canonical(point, PRESSURE, value)) == pytest.approx(
        value, rel=1e-9, abs=1e-9
    )


LIBRARY_POINTS = [
    point
    for name in profile_names()
    for point in builtin_profile(name).points  # Modbus points of the library
]


@given(point=st.sampled_from(LIBRARY_POINTS), data=st.data())
def test_any_registers_of_any_library_point_give_a_flagged_value_or_a_problem(
    point: Point, data: st.DataObject
) -> None:
    """Whatever a sensor sends, the decode path flags it or explains it; it never raises."""
    registers = data.draw(
        st.lists(
            st.integers(0, 1 if point.is_bit else 0xFFFF),
            min_size=point.register_count,
            max_size=point.register_count,
        )
    )
    try:
        decoded: float | Exception = decode_point(point, registers)
    except RegisterError as exc:
        decoded = exc
    measured = measure(point, load_quantities()[point.quantity], decoded)
    if measured.value is None:
        assert measured.problem
    else:
        assert math.isfinite(measured.value)
        assert measured.flag in {Flag.NORMAL, Flag.OVER_RANGE, Flag.FAULT}
        # a fault degrades the device; a value over range is data, not a device problem
        assert (measured.flag is Flag.FAULT) == (measured.problem is not None)
