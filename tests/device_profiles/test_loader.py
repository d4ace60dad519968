"""Loading profiles and the vocabulary: built-ins, and errors that name file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from device_profiles import (
    ProfileError,
    builtin_profile,
    decode_point,
    load_profile,
    load_quantities,
    profile_names,
)
from device_profiles.loader import MODELS_DIR, QUANTITIES_PATH

GOOD = """\
model: test-th
manufacturer: Test
description: test sensor
source: test
points:
  - name: humidity
    quantity: relative_humidity
    address: 0
    data_type: uint16
    scale: 0.1
  - name: temperature
    quantity: air_temperature
    address: 1
    data_type: int16
    scale: 0.1
"""


def _write(tmp_path: Path, text: str, name: str = "test_th.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(path: Path) -> str:
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value)


# --- built-in profiles ----------------------------------------------------------------


def test_there_are_builtin_profiles() -> None:
    names = profile_names()
    assert "jxct-th-rs485" in names
    assert len(names) == len(list(MODELS_DIR.glob("*.yaml")))


@pytest.mark.parametrize("model", profile_names())
def test_builtin_profile_loads_and_uses_known_quantities(model: str) -> None:
    profile = builtin_profile(model)
    assert profile.model == model
    vocabulary = load_quantities()
    for point in profile.points:
        assert point.quantity in vocabulary, f"{model}: {point.name} uses {point.quantity}"
        assert point.register_count <= profile.modbus.max_registers_per_read


def test_jxct_th_profile_matches_facts() -> None:
    """FACTS.md §5: 9600 baud, slave 1, FC03; RH u16 x0.1 at 0, T s16 x0.1 at 1."""
    profile = builtin_profile("jxct-th-rs485")
    assert profile.modbus.register_table == "holding"
    assert (profile.modbus.default_slave, profile.modbus.serial.baudrate) == (1, 9600)
    humidity, temperature = profile.point("humidity"), profile.point("temperature")
    assert (humidity.address, humidity.data_type, humidity.scale) == (0, "uint16", 0.1)
    assert (temperature.address, temperature.data_type, temperature.scale) == (1, "int16", 0.1)
    assert decode_point(temperature, [0xFF9B]) == -10.1


def test_unknown_builtin_lists_known_models() -> None:
    with pytest.raises(
        ProfileError, match=r"no device profile 'nope'; known models: .*jxct-th-rs485"
    ):
        builtin_profile("nope")


# --- loading files --------------------------------------------------------------------


def test_good_profile_loads(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, GOOD))
    assert [p.name for p in profile.points] == ["humidity", "temperature"]


def test_explicit_vocabulary_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    vocabulary = {k: v for k, v in load_quantities().items() if k != "air_temperature"}
    with pytest.raises(ProfileError, match=r"test_th.yaml:12: points\[1\].quantity: unknown"):
        load_profile(path, vocabulary)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "    data_type: uint16\n    scale: 0.1\n",
            "    data_type: uint16\n    scale: 0\n",
            "test_th.yaml:10: points[0].scale: scale must not be 0",
        ),
        (
            "    data_type: int16\n",
            "    data_type: int24\n",
            "test_th.yaml:14: points[1].data_type: Input should be",
        ),
        (
            "    address: 1\n",
            "    address: 70000\n",
            "test_th.yaml:13: points[1].address: Input should be less than",
        ),
        (
            "    address: 1\n",
            "    address: one\n",
            "test_th.yaml:13: points[1].address: Input should be a valid integer",
        ),
        (
            "    data_type: int16\n",
            "    data_type: int16\n    colour: red\n",
            "test_th.yaml:15: points[1].colour: Extra inputs are not permitted",
        ),
        ("manufacturer: Test\n", "", "test_th.yaml:1: manufacturer: Field required"),
        (
            "    quantity: air_temperature\n",
            "",
            "test_th.yaml:11: points[1].quantity: Field required",
        ),
        (
            "description: test sensor\n",
            "description: test sensor\nvendor: x\n",
            "test_th.yaml:4: vendor: Extra inputs",
        ),
        (
            "source: test\n",
            "source: test\nmodbus:\n  serial: {baudrate: 9600, parity: X}\n",
            "test_th.yaml:6: modbus.serial.parity: Input should be 'N', 'E' or 'O'",
        ),
    ],
)
def test_broken_profile_names_file_line_and_key(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    last = GOOD.rindex(old)  # the last occurrence, so [1] edits hit the second point
    text = GOOD[:last] + new + GOOD[last + len(old) :]
    assert expected in _error(_write(tmp_path, text))


def test_second_point_scale_error_is_on_its_own_line(tmp_path: Path) -> None:
    text = GOOD.replace(
        "    data_type: int16\n    scale: 0.1\n", "    data_type: int16\n    scale: 0\n"
    )
    assert _error(_write(tmp_path, text)) == (
        "test_th.yaml:15: points[1].scale: scale must not be 0"
    )


def test_every_error_gets_its_own_line(tmp_path: Path) -> None:
    text = GOOD.replace("scale: 0.1", "scale: 0")
    lines = _error(_write(tmp_path, text)).splitlines()
    assert [line.split(": ")[0:2] for line in lines] == [
        ["test_th.yaml:10", "points[0].scale"],
        ["test_th.yaml:15", "points[1].scale"],
    ]


def test_overlap_error_names_file_and_both_points(tmp_path: Path) -> None:
    text = GOOD.replace("    address: 1\n", "    address: 0\n")
    message = _error(_write(tmp_path, text))
    assert message.startswith("test_th.yaml:")
    assert "point 'temperature' overlaps point 'humidity' at register 0" in message


def test_unknown_quantity_names_the_point(tmp_path: Path) -> None:
    text = GOOD.replace("quantity: air_temperature", "quantity: air_temprature")
    assert _error(_write(tmp_path, text)) == (
        "test_th.yaml:12: points[1].quantity: unknown quantity 'air_temprature' "
        "(see quantities.yaml)"
    )


def test_model_must_match_file_name(tmp_path: Path) -> None:
    message = _error(_write(tmp_path, GOOD, name="other_model.yaml"))
    assert message == "other_model.yaml:1: model: must match the file name"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("model: test-th\npoints: [\n  - a\n", 3),
        ("model: test-th\nmanufacturer: 'unterminated\n", 3),
        ("model: test-th\n\tmanufacturer: tab\n", 2),
        ("model: test-th\npoints:\n  - name: a\n   bad: indent\n", 4),
    ],
)
def test_invalid_yaml_gives_the_line(tmp_path: Path, text: str, line: int) -> None:
    message = _error(_write(tmp_path, text))
    assert message.startswith(f"test_th.yaml:{line}: invalid YAML:")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a list\n", "just a string\n"])
def test_documents_that_are_not_mappings(tmp_path: Path, text: str) -> None:
    message = _error(_write(tmp_path, text))
    assert message.startswith("test_th.yaml")
    assert "(top level)" in message


def test_missing_file(tmp_path: Path) -> None:
    message = _error(tmp_path / "absent.yaml")
    assert "absent.yaml: cannot read" in message


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "test_th.yaml"
    path.write_bytes(GOOD.encode("utf-16"))
    assert "not UTF-8 text" in _error(path)


# --- quantities.yaml ------------------------------------------------------------------


def test_every_quantity_has_a_unit_and_an_ordered_range() -> None:
    quantities = load_quantities()
    assert quantities
    for code, quantity in quantities.items():
        assert quantity.code == code
        assert quantity.unit.strip(), code
        assert quantity.name.strip(), code
        assert quantity.min < quantity.max, code


def test_hj212_codes_are_six_characters_and_unique() -> None:
    codes = [q.hj212 for q in load_quantities().values() if q.hj212 is not None]
    assert codes
    for code in codes:
        assert len(code) == 6, code
        assert code[0].islower(), code
        assert code[1:].isdigit(), code
    assert len(codes) == len(set(codes))


def test_hj212_codes_we_rely_on() -> None:
    """FACTS.md §1.9: air temperature a01001, humidity a01002, PM2.5 a34004, PM10 a34002."""
    quantities = load_quantities()
    assert quantities["air_temperature"].hj212 == "a01001"
    assert quantities["relative_humidity"].hj212 == "a01002"
    assert quantities["pm2_5"].hj212 == "a34004"
    assert quantities["pm10"].hj212 == "a34002"


def test_broken_vocabulary_names_line_and_key(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
        quantities:
          air_temperature:
            name: Air temperature
            unit: C
            min: 80
            max: -50
          wind_speed:
            name: Wind speed
            units: m/s
            min: 0
            max: 75
        """,
        name="quantities.yaml",
    )
    with pytest.raises(ProfileError) as info:
        load_quantities(path)
    message = str(info.value)
    assert (
        "quantities.yaml:3: quantities.air_temperature: min 80.0 must be below max -50.0" in message
    )
    assert "quantities.wind_speed.unit: Field required" in message
    assert (
        "quantities.yaml:9: quantities.wind_speed.units: Extra inputs are not permitted" in message
    )


def test_shipped_vocabulary_path() -> None:
    assert QUANTITIES_PATH.is_file()
    assert load_quantities(QUANTITIES_PATH) == load_quantities()
