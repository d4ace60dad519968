"""Writable settings (address, baud rate), function codes 1-4 and bits in plan_reads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from device_profiles import (
    DataType,
    Point,
    Profile,
    ProfileError,
    RegisterError,
    Setting,
    Write,
    decode_point,
    encode_point,
    plan_reads,
)

# Renke RS-*-N01 family: 0x07D0 address, 0x07D1 baud code 0..6 (FACTS §5)
RENKE_BAUD = {0: 2400, 1: 4800, 2: 9600, 3: 19200, 4: 38400, 5: 57600, 6: 115200}


def _profile(points: list[dict[str, Any]], **modbus: Any) -> Profile:
    return Profile.model_validate(
        {
            "model": "t",
            "manufacturer": "t",
            "description": "t",
            "source": "t",
            "modbus": modbus,
            "points": points,
        }
    )


def test_baud_rate_setting_encodes_through_its_code_table() -> None:
    baud = Setting(name="baud_rate", address=0x07D1, codes=RENKE_BAUD)
    assert baud.encode(9600) == 2
    assert baud.decode(2) == 9600
    assert baud.decode(9) is None
    with pytest.raises(ProfileError, match="14400 is not one of 2400, 4800"):
        baud.encode(14400)


def test_address_setting_with_unlock_and_save() -> None:
    # WitMotion: unlock 0x69 <- 0xB588, address 0x1A, save 0x00 <- 0 (FACTS §5)
    address = Setting(
        name="slave_address",
        address=0x1A,
        min=1,
        max=247,
        before=[Write(address=0x69, value=0xB588)],
        after=[Write(address=0x00, value=0)],
    )
    assert address.writes(0x50) == (
        Write(address=0x69, value=0xB588),
        Write(address=0x1A, value=0x50),
        Write(address=0x00, value=0),
    )
    with pytest.raises(ProfileError, match=r"248 is outside 1\.\.247"):
        address.encode(248)


def test_profile_finds_its_settings_and_refuses_twins() -> None:
    point = {"name": "t", "quantity": "air_temperature", "address": 0, "data_type": "int16"}
    setting = {"name": "slave_address", "address": 0x0100, "min": 1, "max": 247}
    profile = _profile([point], settings=[setting])
    found = profile.modbus.setting("slave_address")
    assert found is not None
    assert found.address == 0x0100
    assert profile.modbus.setting("baud_rate") is None
    with pytest.raises(ValidationError, match="setting 'slave_address' described twice"):
        _profile([point], settings=[setting, setting])


def test_points_take_the_profile_table_unless_they_name_a_function_code() -> None:
    points = [
        {"name": "a", "quantity": "air_temperature", "address": 0, "data_type": "int16"},
        {
            "name": "b",
            "quantity": "air_temperature",
            "address": 0,
            "data_type": "int16",
            "function_code": 3,
        },
    ]
    profile = _profile(points, register_table="input")
    assert [p.function_code for p in profile.points] == [4, 3]  # same address, other table


def test_bits_need_function_code_1_or_2() -> None:
    base = {"name": "alarm", "quantity": "air_temperature", "address": 5}
    with pytest.raises(ValidationError, match="function codes 1 and 2 read bits"):
        Point.model_validate(base | {"data_type": "bool", "function_code": 3})
    with pytest.raises(ValidationError, match="function codes 1 and 2 read bits"):
        Point.model_validate(base | {"data_type": "uint16", "function_code": 2})
    bit = Point.model_validate(base | {"data_type": "bool", "function_code": 2})
    assert decode_point(bit, [1]) == 1.0
    assert encode_point(bit, 0) == (0,)
    with pytest.raises(RegisterError):
        decode_point(bit, [2])
    assert bit.data_type is DataType.BOOL


def test_plan_reads_keeps_function_codes_apart() -> None:
    def point(name: str, address: int, code: int, data_type: str = "uint16") -> Point:
        return Point.model_validate(
            {
                "name": name,
                "quantity": "q",
                "address": address,
                "data_type": data_type,
                "function_code": code,
            }
        )

    points = [
        point("h0", 0, 3),
        point("i0", 0, 4),
        point("h1", 1, 3),
        point("c0", 0, 1, "bool"),
        point("c1", 1, 1, "bool"),
    ]
    blocks = plan_reads(points)
    assert [(b.function_code, b.start, b.count) for b in blocks] == [
        (1, 0, 2),
        (3, 0, 2),
        (4, 0, 1),
    ]


@given(value=st.sampled_from(sorted(RENKE_BAUD.values())))
def test_coded_settings_round_trip(value: int) -> None:
    baud = Setting(name="baud_rate", address=0x07D1, codes=RENKE_BAUD)
    assert baud.decode(baud.encode(value)) == value


@given(value=st.integers(0, 0xFFFF))
def test_ranged_settings_encode_exactly_their_range(value: int) -> None:
    address = Setting(name="slave_address", address=0x0100, min=1, max=247)
    if 1 <= value <= 247:
        assert address.decode(address.encode(value)) == value
    else:
        with pytest.raises(ProfileError):
            address.encode(value)
