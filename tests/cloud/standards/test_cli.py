"""``shanshui standards …``: text and JSON output, and mistakes without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from shanshui.cli import app

runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["standards", *args])
    return result.exit_code, result.stdout, result.stderr


def test_aqi_text() -> None:
    code, out, _ = _run("aqi", "pm2_5=80", "pm10=120", "--daily")
    assert code == 0
    assert "IAQI 107" in out
    assert "AQI 107: 三级 (III), 轻度污染 Lightly polluted" in out
    assert "#FF7E00" in out
    assert "primary pollutants: pm2_5" in out


def test_aqi_json_with_hj212_codes() -> None:
    code, out, _ = _run("aqi", "a34004=80", "a21004=200", "--hourly", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["mode"] == "hourly"
    assert data["aqi"] == 107
    assert [s["iaqi"] for s in data["iaqi"]] == [107, 100]
    assert data["primary_pollutants"] == ["pm2_5"]
    assert data["rgb"] == [255, 126, 0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("aqi", "pm25x=3"), "unknown quantity 'pm25x'"),
        (("aqi", "pm2_5=abc"), "pm2_5: 'abc' is not a number"),
        (("aqi", "pm2_5=-3"), "is negative"),
        (("aqi", "pm2_5"), "is not code=value"),
        (("aqi", "pm2_5=1", "a34004=2"), "repeats pm2_5"),
        (("aqi", "so2=900", "--hourly"), "so2_24h is needed"),
        (("water", "do=x"), "'x' is not a number"),
        (("water", "do=5", "--target", "VII"), "is not a water class"),
        (("noise", "--zone", "5", "--ld", "50"), "not a zone"),
        (("noise", "--zone", "1"), "needs --ld"),
    ],
)
def test_mistakes_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    code, out, err = _run(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err + out
    assert err.count("\n") == 1


def test_water_text_and_json() -> None:
    code, out, _ = _run("water", "do=5.5", "ammonia_nitrogen=0.4", "tp=0.12", "--target", "II")
    assert code == 0
    assert "class III (class III)" in out
    assert "deciding: dissolved_oxygen, total_phosphorus" in out
    assert "target class II: misses: dissolved_oxygen, total_phosphorus" in out
    code, out, _ = _run("water", "w01009=1.5", "tn=0.6", "--lake", "--json")
    data = json.loads(out)
    assert (data["class"], data["class_en"], data["deciding_items"]) == (
        "劣V",
        "worse than V",
        ["dissolved_oxygen"],
    )
    assert data["items"][1]["class"] == "III"


def test_noise_from_levels() -> None:
    code, out, _ = _run("noise", "--zone", "1", "--ld", "58", "--ln", "48")
    assert code == 0
    assert "over by 3.0 dB" in out
    code, out, _ = _run("noise", "--zone", "4b", "--ld", "58", "--ln", "48", "--json")
    data = json.loads(out)
    assert (data["day_exceedance_db"], data["night_exceedance_db"], data["exceeds"]) == (
        0.0,
        0.0,
        False,
    )


def test_noise_from_readings(tmp_path: Path) -> None:
    path = tmp_path / "levels.csv"
    path.write_text(
        "# time, dB(A)\n"
        "2026-11-30T10:00:00+08:00,60\n"
        "2026-11-30T23:00:00+08:00,50\n"
        "\n"
        "2026-11-30T15:00:00Z,50\n",  # 23:00 in Shanghai: night
        encoding="utf-8",
    )
    code, out, err = _run("noise", "--zone", "2", "--readings", str(path), "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["ld_db"], data["ln_db"], data["day_readings"], data["night_readings"]) == (
        60.0,
        50.0,
        1,
        2,
    )
    assert data["ldn_db"] == 60.0  # 10·lg((16·10^6 + 8·10^6)/24)
    assert (data["lmax_night_db"], data["night_max_exceedance_db"]) == (50.0, 0.0)


def test_noise_readings_errors_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("2026-11-30T10:00:00+08:00,60\n2026-11-30T11:00:00,61\n", encoding="utf-8")
    code, _, err = _run("noise", "--zone", "2", "--readings", str(path))
    assert code == 2
    assert f"{path}:2" in err
    assert "no UTC offset" in err


def test_works_on_a_gateway_install_without_the_cloud_extra() -> None:
    # As tests/shanshui/test_cli.py does: pretend psycopg (the cloud extra) is missing.
    prelude = "import sys; sys.modules['psycopg'] = None; from shanshui.cli import app; app()"
    result = subprocess.run(
        [sys.executable, "-c", prelude, "standards", "aqi", "pm10=150"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "AQI 100" in result.stdout


_pairs = st.lists(
    st.tuples(
        st.sampled_from(["pm2_5", "pm10", "so2", "o3", "o3_8h", "co", "a34004", "do", "x", ""]),
        st.one_of(st.floats(allow_nan=True).map(repr), st.text(max_size=5)),
    ).map(lambda kv: f"{kv[0]}={kv[1]}"),
    min_size=1,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(_pairs, st.booleans())
def test_no_input_makes_a_traceback(pairs: list[str], hourly: bool) -> None:
    args = ["aqi", *pairs, "--hourly" if hourly else "--daily"]
    result = runner.invoke(app, ["standards", *args])
    assert result.exit_code in (0, 2), (args, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), args
