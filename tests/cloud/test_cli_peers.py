"""``shanshui cloud hj212 station …`` and ``nbiot channels …`` against a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cloud.cli import app
from cloud.storage import Storage
from cloud.storage.hj212_stations import StationSecrets, station
from cloud.storage.nbiot_channels import channels
from cloud.storage.sealing import SecretKey
from wire.compact import Channel

KEY_TEXT = SecretKey.generate_text()
KEY = SecretKey.parse(KEY_TEXT)
MN = "010000A8900016F000169DC0"
SM4_HEX = "000102030405060708090a0b0c0d0e0f"


@pytest.fixture
def runner(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("SHANSHUI_SECRET_KEY", KEY_TEXT)
    assert CliRunner().invoke(app, ["gateway", "add", "gw-hj"]).exit_code == 0
    assert CliRunner().invoke(app, ["gateway", "add", "gw-nb"]).exit_code == 0
    return CliRunner()


async def _station(url: str, mn: str) -> StationSecrets | None:
    async with Storage(url, max_size=1, secret_key=KEY) as storage:
        return await station(storage, mn)


async def _channels(url: str, gateway: str) -> tuple[Channel, ...] | None:
    async with Storage(url, max_size=1) as storage:
        return await channels(storage, gateway)


def test_station_add_seals_the_secrets_and_list_shows_none(
    runner: CliRunner, migrated_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "pw").write_text("s3cret-pw\n")
    (tmp_path / "key").write_text(SM4_HEX + "\n")
    args = [
        "hj212",
        "station",
        "add",
        MN,
        "--gateway",
        "gw-hj",
        "--password-file",
        str(tmp_path / "pw"),
        "--edition",
        "2025",
        "--sm4-key-file",
        str(tmp_path / "key"),
    ]
    added = runner.invoke(app, args)
    assert added.exit_code == 0, added.output
    listed = runner.invoke(app, ["hj212", "station", "list"])
    assert listed.stdout.split() == [MN, "gw-hj", "HJ", "212-2025"]
    assert "s3cret" not in added.output + listed.output
    with psycopg.connect(migrated_database_url) as conn:
        password, sealed = conn.execute("SELECT password, sealed FROM hj212_stations").fetchone()
    assert sealed
    assert b"s3cret" not in bytes(password)
    found = asyncio.run(_station(migrated_database_url, MN))
    assert found is not None
    assert (found.password, found.sm4_key, found.gateway_id) == (
        "s3cret-pw",
        bytes.fromhex(SM4_HEX),
        "gw-hj",
    )
    assert "s3cret" not in repr(found)
    assert runner.invoke(app, ["hj212", "station", "remove", MN]).exit_code == 0
    assert asyncio.run(_station(migrated_database_url, MN)) is None
    again = runner.invoke(app, ["hj212", "station", "remove", MN])
    assert (again.exit_code, "no station" in again.output) == (2, True)


def test_station_mistakes_exit_2_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("pw\n")
    base = ["hj212", "station", "add", MN, "--password-file", str(tmp_path / "pw")]
    unknown = runner.invoke(app, [*base, "--gateway", "gw-ghost"])
    no_key = runner.invoke(app, [*base, "--gateway", "gw-hj", "--edition", "2025"])
    bad_mn = runner.invoke(
        app,
        [
            "hj212",
            "station",
            "add",
            "MN-1",
            "--gateway",
            "gw-hj",
            "--password-file",
            str(tmp_path / "pw"),
        ],
    )
    missing = runner.invoke(app, [*base[:-1], str(tmp_path / "nope"), "--gateway", "gw-hj"])
    for result, words in (
        (unknown, "gw-ghost"),
        (no_key, "SM4 key"),
        (bad_mn, "MN must"),
        (missing, "cannot read"),
    ):
        assert result.exit_code == 2, result.output
        assert words in result.output
        assert "Traceback" not in result.output


def test_importing_the_files_of_earlier_versions(
    runner: CliRunner, migrated_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "station.password").write_text("123456\n")
    stations = tmp_path / "stations.yaml"
    stations.write_text(
        f"stations:\n  - mn: {MN}\n    gateway: gw-hj\n    password_file: station.password\n"
    )
    imported = runner.invoke(app, ["hj212", "station", "import", str(stations)])
    assert imported.exit_code == 0, imported.output
    found = asyncio.run(_station(migrated_database_url, MN))
    assert found is not None
    assert (found.password, found.edition) == ("123456", "2017")

    tables = tmp_path / "channels.yaml"
    tables.write_text(
        "gateways:\n  - gateway: gw-nb\n    channels:\n"
        "      - {device: aq1, quantity: pm2_5, decimals: 0}\n"
        "      - {device: aq1, quantity: so2, decimals: 2}\n"
    )
    done = runner.invoke(app, ["nbiot", "channels", "import", str(tables)])
    assert done.exit_code == 0, done.output
    assert asyncio.run(_channels(migrated_database_url, "gw-nb")) == (
        Channel("aq1", "pm2_5", 0),
        Channel("aq1", "so2", 2),
    )
    listed = runner.invoke(app, ["nbiot", "channels", "list", "gw-nb"])
    assert [line.split() for line in listed.stdout.splitlines()] == [
        ["gw-nb", "0", "aq1", "pm2_5", "0"],
        ["gw-nb", "1", "aq1", "so2", "2"],
    ]
    assert runner.invoke(app, ["nbiot", "channels", "remove", "gw-nb"]).exit_code == 0
    assert asyncio.run(_channels(migrated_database_url, "gw-nb")) is None

    broken = tables.read_text().replace("decimals: 2", "decimals: 12")
    tables.write_text(broken)
    refused = runner.invoke(app, ["nbiot", "channels", "import", str(tables)])
    assert refused.exit_code == 2
    assert "channels.yaml:5: gateways[0].channels[1].decimals:" in refused.output
