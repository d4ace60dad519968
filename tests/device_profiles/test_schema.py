"""The profile schema: the data-type table, points, and whole profiles."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
from pydantic import ValidationError

from device_profiles import DataType, Point, Profile, Quantity
from tests.device_profiles.strategies import REGISTER_TYPES


def _point(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "temp",
        "quantity": "air_temperature",
        "address": 0,
        "data_type": "int16",
    } | overrides


def _profile(*points: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    base = {
        "model": "test-model",
        "manufacturer": "Test",
        "description": "test",
        "source": "test",
        "points": list(points) or [_point()],
    }
    return base | overrides


# --- DataType table -------------------------------------------------------------------


@pytest.mark.parametrize("data_type", REGISTER_TYPES)
def test_data_type_table_agrees_with_struct(data_type: DataType) -> None:
    assert struct.calcsize(">" + data_type.struct_code) == 2 * data_type.register_count
    low, high = data_type.raw_limits()
    if data_type.is_float:
        return
    struct.pack(">" + data_type.struct_code, low)
    struct.pack(">" + data_type.struct_code, high)
    for outside in (low - 1, high + 1):
        with pytest.raises(struct.error):
            struct.pack(">" + data_type.struct_code, outside)


def test_data_types() -> None:
    assert {t.value: t.register_count for t in DataType} == {
        "bool": 1,
        "int16": 1,
        "uint16": 1,
        "int32": 2,
        "uint32": 2,
        "float32": 2,
        "int64": 4,
        "uint64": 4,
        "float64": 4,
    }
    assert {t for t in DataType if t.is_float} == {DataType.FLOAT32, DataType.FLOAT64}
    assert DataType.INT16.raw_limits() == (-32768, 32767)
    assert DataType.UINT32.raw_limits() == (0, 0xFFFFFFFF)


# --- Point ----------------------------------------------------------------------------


def test_point_defaults() -> None:
    point = Point.model_validate(_point())
    assert (point.scale, point.offset, point.word_order, point.byte_order) == (
        1.0,
        0.0,
        "big",
        "big",
    )
    assert point.invalid_raw == ()
    assert (point.register_count, point.end) == (1, 1)


def test_point_is_frozen() -> None:
    point = Point.model_validate(_point())
    with pytest.raises(ValidationError, match="frozen"):
        point.scale = 2.0


@pytest.mark.parametrize(
    ("overrides", "loc", "message"),
    [
        ({"scale": 0}, "scale", "scale must not be 0"),
        ({"scale": 0.0}, "scale", "scale must not be 0"),
        ({"scale": math.nan}, "scale", "finite number"),
        ({"scale": math.inf}, "scale", "finite number"),
        ({"offset": -math.inf}, "offset", "finite number"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
        ({"data_type": "int24"}, "data_type", "Input should be"),
        ({"word_order": "middle"}, "word_order", "'big' or 'little'"),
        ({"address": -1}, "address", "greater than or equal to 0"),
        ({"address": 0x10000}, "address", "less than or equal to 65535"),
        ({"name": "Temp"}, "name", "should match pattern"),
        ({"name": "1st"}, "name", "should match pattern"),
    ],
)
def test_point_field_errors(overrides: dict[str, Any], loc: str, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Point.model_validate(_point(**overrides))
    (error,) = info.value.errors()
    assert error["loc"] == (loc,)
    assert message in error["msg"]


@pytest.mark.parametrize("data_type", ["float32", "float64"])
def test_invalid_raw_refused_for_floats(data_type: str) -> None:
    with pytest.raises(
        ValidationError, match=f"invalid_raw is not allowed with data_type {data_type}"
    ):
        Point.model_validate(_point(data_type=data_type, invalid_raw=[0]))


@pytest.mark.parametrize(
    ("data_type", "raw"),
    [("int16", 0x8000), ("int16", 0xFFFF), ("uint16", -1), ("uint16", 0x10000)],
)
def test_invalid_raw_must_fit_the_type(data_type: str, raw: int) -> None:
    with pytest.raises(ValidationError, match=f"invalid_raw {raw} does not fit {data_type}"):
        Point.model_validate(_point(data_type=data_type, invalid_raw=[raw]))


def test_point_may_not_run_past_the_last_register() -> None:
    Point.model_validate(_point(address=0xFFFE, data_type="uint32"))
    with pytest.raises(ValidationError, match=r"registers 65535\.\.65536 run past 65535"):
        Point.model_validate(_point(address=0xFFFF, data_type="uint32"))


# --- Profile --------------------------------------------------------------------------


def test_minimal_profile_defaults() -> None:
    profile = Profile.model_validate(_profile())
    assert profile.protocol == "modbus"
    assert profile.modbus.register_table == "holding"
    assert profile.modbus.default_slave == 1
    assert profile.modbus.serial.baudrate == 9600
    assert profile.modbus.max_registers_per_read == 125
    assert profile.point("temp").address == 0
    with pytest.raises(KeyError):
        profile.point("nope")


def test_overlapping_points_refused_naming_both() -> None:
    lux = _point(name="lux", quantity="illuminance", address=7, data_type="uint32")
    temp = _point(name="temp", address=8)
    with pytest.raises(ValidationError, match="point 'temp' overlaps point 'lux' at register 8"):
        Profile.model_validate(_profile(lux, temp))


def test_overlap_found_whatever_the_order() -> None:
    wide = _point(name="wide", address=10, data_type="float64")
    narrow = _point(name="narrow", address=13)
    with pytest.raises(ValidationError, match="'wide' overlaps point 'narrow'"):
        Profile.model_validate(_profile(narrow, wide))


def test_adjacent_points_are_fine() -> None:
    lux = _point(name="lux", address=7, data_type="uint32")
    temp = _point(name="temp", address=9)
    assert len(Profile.model_validate(_profile(lux, temp)).points) == 2


def test_duplicate_point_names_refused() -> None:
    with pytest.raises(ValidationError, match="point name 'temp' used twice"):
        Profile.model_validate(_profile(_point(address=0), _point(address=5)))


def test_profile_needs_a_point() -> None:
    with pytest.raises(ValidationError, match="a profile needs at least one point"):
        Profile.model_validate(_profile() | {"points": []})


@pytest.mark.parametrize(
    ("overrides", "loc"),
    [
        ({"vendor": "x"}, ("vendor",)),
        ({"modbus": {"baud": 9600}}, ("modbus", "baud")),
        ({"modbus": {"serial": {"baud": 9600}}}, ("modbus", "serial", "baud")),
        ({"modbus": {"default_slave": 248}}, ("modbus", "default_slave")),
        ({"modbus": {"max_registers_per_read": 126}}, ("modbus", "max_registers_per_read")),
        ({"modbus": {"register_table": "registers"}}, ("modbus", "register_table")),
        ({"protocol": "bacnet"}, ("protocol",)),
        ({"model": "Bad Model"}, ("model",)),
    ],
)
def test_profile_field_errors(overrides: dict[str, Any], loc: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError) as info:
        Profile.model_validate(_profile(**overrides))
    assert [e["loc"] for e in info.value.errors()] == [loc]


def test_unknown_key_in_a_point_is_located() -> None:
    with pytest.raises(ValidationError) as info:
        Profile.model_validate(_profile(_point(), _point(name="rh", address=1, scal=0.1)))
    assert [e["loc"] for e in info.value.errors()] == [("points", 1, "scal")]


# --- Quantity -------------------------------------------------------------------------


def test_quantity_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match=r"min 5\.0 must be below max 5\.0"):
        Quantity(code="q", name="Q", unit="u", min=5, max=5)


def test_quantity_range_must_be_finite() -> None:
    with pytest.raises(ValidationError, match="finite number"):
        Quantity(code="q", name="Q", unit="u", min=-math.inf, max=5)
