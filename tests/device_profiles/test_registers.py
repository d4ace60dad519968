"""Registers <-> values: round trips, range checks, purity, blocks, invalid raw values."""

from __future__ import annotations

import contextlib
import math
import struct
from typing import Literal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from device_profiles import (
    Block,
    DataType,
    InvalidRawError,
    Point,
    RegisterError,
    decode_block,
    decode_point,
    encode_point,
    plan_reads,
)
from tests.device_profiles.strategies import (
    FLOAT_TYPES,
    INT_TYPES,
    REGISTER_TYPES,
    points,
    register_lists,
)

# float64 carries 53 bits, so 64-bit raw values beyond 2**53 cannot round-trip exactly.
_EXACT_RAW = 2**53
# Below 2**44, even at a 1e-6 scale float64 keeps enough digits to find the raw value again.
_SAFE_RAW = 2**44


def _raw_range(data_type: DataType) -> tuple[int, int]:
    low, high = data_type.raw_limits()
    return max(low, -_EXACT_RAW), min(high, _EXACT_RAW)


def _point(data_type: str, **kwargs: object) -> Point:
    return Point.model_validate(
        {"name": "p", "quantity": "q", "address": 0, "data_type": data_type, **kwargs}
    )


# --- round trips ----------------------------------------------------------------------


@given(data=st.data(), point=points(st.sampled_from(INT_TYPES)))
def test_integer_round_trip_within_half_a_raw_step(data: st.DataObject, point: Point) -> None:
    raw = data.draw(st.integers(*_raw_range(point.data_type)), label="raw")
    fraction = data.draw(st.floats(-0.49, 0.49), label="fraction")
    value = (raw + fraction) * point.scale + point.offset
    registers = encode_point(point, value)
    assert len(registers) == point.register_count
    assert all(0 <= word <= 0xFFFF for word in registers)
    decoded = decode_point(point, registers)
    slack = 16 * math.ulp(max(abs(value), abs(point.offset), abs(point.scale)))
    assert abs(decoded - value) <= abs(point.scale) / 2 + slack


@given(point=points(st.sampled_from(INT_TYPES)), data=st.data())
def test_integer_registers_round_trip_exactly(point: Point, data: st.DataObject) -> None:
    """Any raw value the sensor can hold decodes and re-encodes to the same registers."""
    low, high = point.data_type.raw_limits()
    raw = data.draw(st.integers(max(low, -_SAFE_RAW), min(high, _SAFE_RAW)), label="raw")
    registers = encode_point(point.model_copy(update={"scale": 1.0, "offset": 0.0}), raw)
    assert encode_point(point, decode_point(point, registers)) == registers


@given(point=points(st.sampled_from(FLOAT_TYPES), st.just(1.0), st.just(0.0)), data=st.data())
def test_float_round_trip_is_exact_when_representable(point: Point, data: st.DataObject) -> None:
    width: Literal[32, 64] = 32 if point.data_type == DataType.FLOAT32 else 64
    value = data.draw(st.floats(allow_nan=False, allow_infinity=False, width=width), label="value")
    assert decode_point(point, encode_point(point, value)) == value


@given(point=points(st.sampled_from(FLOAT_TYPES)), data=st.data())
def test_scaled_float_round_trip_is_close(point: Point, data: st.DataObject) -> None:
    value = data.draw(st.floats(-1e30, 1e30, allow_nan=False), label="value")
    decoded = decode_point(point, encode_point(point, value))
    rel = 1e-6 if point.data_type == DataType.FLOAT32 else 1e-12
    assert math.isclose(decoded, value, rel_tol=rel, abs_tol=rel * abs(point.offset) + 1e-30)


@given(data=st.data())
def test_float32_rounds_like_struct(data: st.DataObject) -> None:
    value = data.draw(st.floats(-3e38, 3e38, allow_nan=False), label="value")
    point = _point("float32")
    expected = struct.unpack(">f", struct.pack(">f", value))[0]
    assert decode_point(point, encode_point(point, value)) == expected


@given(point=points(), data=st.data())
def test_any_registers_decode_or_raise_register_error(point: Point, data: st.DataObject) -> None:
    registers = data.draw(register_lists(point.register_count), label="registers")
    try:
        value = decode_point(point, registers)
    except RegisterError:
        return
    assert isinstance(value, float)


# --- encode_point refuses what does not fit -------------------------------------------


@pytest.mark.parametrize("data_type", REGISTER_TYPES)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_encode_refuses_non_finite(data_type: DataType, value: float) -> None:
    with pytest.raises(RegisterError, match="not finite"):
        encode_point(_point(data_type), value)


@pytest.mark.parametrize("data_type", REGISTER_TYPES)
def test_encode_refuses_values_that_overflow_once_scaled(data_type: DataType) -> None:
    with pytest.raises(RegisterError, match="'p'"):
        encode_point(_point(data_type, scale=1e-10), 1e308)


@pytest.mark.parametrize("data_type", REGISTER_TYPES)
def test_encode_refuses_an_int_too_large_for_a_float(data_type: DataType) -> None:
    with pytest.raises(RegisterError):
        encode_point(_point(data_type), 10**400)


@pytest.mark.parametrize(
    ("data_type", "scale", "value"),
    [
        ("int16", 1.0, 32768),
        ("int16", 1.0, -32769),
        ("int16", 0.1, 3276.8),
        ("uint16", 1.0, -1),
        ("uint16", 0.1, 6553.6),
        ("uint16", 0.1, -0.1),
        ("int32", 1.0, 2**31),
        ("uint32", 1.0, 2**32),
        ("int64", 1.0, 2.0**63),
        ("uint64", 1.0, -1),
        ("float32", 1.0, 3.5e38),
        ("float32", 0.1, -3.4e38),
    ],
)
def test_encode_refuses_out_of_range(data_type: str, scale: float, value: float) -> None:
    with pytest.raises(RegisterError, match=r"point 'p': value"):
        encode_point(_point(data_type, scale=scale), value)


@pytest.mark.parametrize(
    ("data_type", "scale", "value", "registers"),
    [
        ("int16", 1.0, 32767, (0x7FFF,)),
        ("int16", 1.0, -32768, (0x8000,)),
        ("uint16", 0.1, 6553.5, (0xFFFF,)),
        ("uint16", 0.1, 6553.54, (0xFFFF,)),
        ("uint16", 1.0, -0.4, (0x0000,)),
    ],
)
def test_encode_accepts_the_edges_of_the_range(
    data_type: str, scale: float, value: float, registers: tuple[int, ...]
) -> None:
    assert encode_point(_point(data_type, scale=scale), value) == registers


@given(point=points(st.sampled_from(INT_TYPES)), data=st.data())
def test_encode_refuses_every_raw_outside_the_type(point: Point, data: st.DataObject) -> None:
    low, high = point.data_type.raw_limits()
    raw = data.draw(st.integers(high + 1, high + 1000) | st.integers(low - 1000, low - 1))
    assume(abs(raw) < _EXACT_RAW)  # 64-bit limits are not exact in float
    with pytest.raises(RegisterError, match="outside"):
        encode_point(point, raw * point.scale + point.offset)


# --- decode_point refuses what it cannot read -----------------------------------------


@pytest.mark.parametrize("data_type", REGISTER_TYPES)
def test_decode_refuses_wrong_register_count(data_type: DataType) -> None:
    point = _point(data_type)
    for count in (0, point.register_count - 1, point.register_count + 1):
        if count != point.register_count:
            with pytest.raises(RegisterError, match=f"needs {point.register_count} registers"):
                decode_point(point, [0] * count)


@pytest.mark.parametrize("word", [-1, 0x10000, 1.5, None, "1"])
def test_decode_refuses_registers_that_are_not_16_bit_words(word: object) -> None:
    with pytest.raises(RegisterError, match=r"outside 0\.\.65535"):
        decode_point(_point("uint16"), [word])  # type: ignore[list-item]


# --- purity ---------------------------------------------------------------------------


@given(point=points(), data=st.data())
def test_codec_never_mutates_inputs(point: Point, data: st.DataObject) -> None:
    before = point.model_dump()
    registers = data.draw(register_lists(point.register_count), label="registers")
    copy = list(registers)
    try:
        value = decode_point(point, registers)
    except RegisterError:
        value = 1.0
    assert registers == copy
    with contextlib.suppress(RegisterError):
        encode_point(point, value)
    assert point.model_dump() == before


def test_decode_does_not_reverse_the_callers_list() -> None:
    """pymodbus's convert_from_registers reverses its input for little word order; we don't."""
    point = _point("uint32", word_order="little")
    registers = [0x86A0, 0x0001]
    assert decode_point(point, registers) == 100000
    assert registers == [0x86A0, 0x0001]
    assert decode_point(point, tuple(registers)) == 100000


# --- invalid raw values ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_type", "invalid_raw", "registers", "raw"),
    [
        ("uint16", [0xFFFF], [0xFFFF], 0xFFFF),
        ("int16", [0x7FFF], [0x7FFF], 0x7FFF),
        ("int16", [-32768], [0x8000], -32768),
        ("uint32", [0xFFFFFFFF], [0xFFFF, 0xFFFF], 0xFFFFFFFF),
    ],
)
def test_invalid_raw_raises(
    data_type: str, invalid_raw: list[int], registers: list[int], raw: int
) -> None:
    point = _point(data_type, scale=0.1, invalid_raw=invalid_raw)
    with pytest.raises(InvalidRawError) as info:
        decode_point(point, registers)
    assert isinstance(info.value, RegisterError)
    assert info.value.raw == raw
    assert info.value.point is point
    assert "'p'" in str(info.value)
    assert "no valid measurement" in str(info.value)


def test_valid_raw_next_to_an_invalid_one_decodes() -> None:
    point = _point("uint16", scale=0.1, invalid_raw=[0xFFFF])
    assert decode_point(point, [0xFFFE]) == 6553.4


# --- decode_block ---------------------------------------------------------------------


def _named(name: str, address: int, data_type: str, **kwargs: object) -> Point:
    return Point.model_validate(
        {"name": name, "quantity": "q", "address": address, "data_type": data_type, **kwargs}
    )


def test_decode_block_maps_each_point_to_its_value_or_error() -> None:
    humidity = _named("humidity", 0, "uint16", scale=0.1, invalid_raw=[0xFFFF])
    temperature = _named("temperature", 1, "int16", scale=0.1, invalid_raw=[0x7FFF])
    lux = _named("lux", 2, "uint32")
    (block,) = plan_reads([lux, temperature, humidity])
    registers = [0xFFFF, 0xFF9B, 0x0001, 0x86A0]
    values = decode_block(block, registers)
    assert values.keys() == {"humidity", "temperature", "lux"}
    assert isinstance(values["humidity"], InvalidRawError)
    assert values["humidity"].point is humidity
    assert values["temperature"] == -10.1
    assert values["lux"] == 100000
    assert registers == [0xFFFF, 0xFF9B, 0x0001, 0x86A0]


def test_decode_block_with_a_gap() -> None:
    first = _named("first", 10, "uint16")
    second = _named("second", 13, "int16", scale=0.1)
    (block,) = plan_reads([first, second], max_gap=2)
    assert (block.start, block.count) == (10, 4)
    assert decode_block(block, [7, 0xAAAA, 0xBBBB, 0xFF9B]) == {"first": 7, "second": -10.1}


def test_decode_block_refuses_wrong_length() -> None:
    block = Block(start=0, count=2, points=(_named("a", 0, "uint32"),))
    with pytest.raises(RegisterError, match="block at 0 needs 2 registers"):
        decode_block(block, [1, 2, 3])


def test_decode_block_maps_a_bad_register_to_its_point() -> None:
    block = Block(start=0, count=2, points=(_named("a", 0, "uint16"), _named("b", 1, "uint16")))
    values = decode_block(block, [5, 0x10000])
    assert values["a"] == 5
    assert isinstance(values["b"], RegisterError)
