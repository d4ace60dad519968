"""shanshui profiles list|show|check."""

from __future__ import annotations

import textwrap
from pathlib import Path

from typer.testing import CliRunner

from device_profiles import profile_names
from shanshui.cli import app

runner = CliRunner()

BROKEN = """\
model: broken
manufacturer: Test
description: test sensor
source: test
points:
  - name: humidity
    quantity: relative_humidity
    address: 0
    data_type: uint16
    scale: 0
  - name: temperature
    quantity: air_temprature
    address: 1
    data_type: int16
    unit: hPa
"""


def test_list_names_every_model() -> None:
    result = runner.invoke(app, ["profiles", "list"])
    assert result.exit_code == 0
    listed = [line.split()[0] for line in result.output.splitlines()]
    assert listed == profile_names()
    assert "(unverified map)" in result.output


def test_show_prints_points_with_units_and_conversions() -> None:
    result = runner.invoke(app, ["profiles", "show", "sensecap-orch-s4"])
    assert result.exit_code == 0, result.output
    assert "pressure           air_pressure           Pa -> kPa" in result.output
    assert "FC03 holding 0x0002 uint32" in result.output
    assert "slave_address      0x0010 FC06 1..247" in result.output


def test_show_unknown_model_is_an_error_without_traceback() -> None:
    result = runner.invoke(app, ["profiles", "show", "no-such-model"])
    assert result.exit_code == 1
    assert "no device profile 'no-such-model'" in result.output
    assert "Traceback" not in result.output


def test_check_the_library() -> None:
    result = runner.invoke(app, ["profiles", "check"])
    assert result.exit_code == 0, result.output
    assert f"{len(profile_names())} profile(s) OK" in result.output


def test_check_a_broken_file_prints_file_line_key_message(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(textwrap.dedent(BROKEN), encoding="utf-8")
    result = runner.invoke(app, ["profiles", "check", str(path)])
    assert result.exit_code == 1
    assert "broken.yaml:10: points[0].scale: scale must not be 0" in result.output
    assert "Traceback" not in result.output


def test_check_reports_vocabulary_problems_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN.replace("    scale: 0\n", ""), encoding="utf-8")
    result = runner.invoke(app, ["profiles", "check", str(path)])
    assert result.exit_code == 1
    assert "broken.yaml:11: points[1].quantity: unknown quantity 'air_temprature'" in result.output
    fixed = BROKEN.replace("    scale: 0\n", "").replace("air_temprature", "air_temperature")
    path.write_text(fixed, encoding="utf-8")
    result = runner.invoke(app, ["profiles", "check", str(path)])
    assert result.exit_code == 1
    assert "broken.yaml:14: points[1].unit: cannot convert hPa (pressure) to °C" in result.output


def test_check_a_missing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["profiles", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "nope.yaml: cannot read" in result.output
