"""``serve`` with SHANSHUI_HJ212_LISTEN: a simulated data logger's upload is answered and stored."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from typer.testing import CliRunner

from cloud.api import create_app
from cloud.cli import app as cli
from cloud.errors import ConfigError
from cloud.ingest.hj212_stations import load_stations
from cloud.ingest.listeners import ListenerSet
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.hj212_stations import put_station
from simulators.hj212_logger import Hj212Logger
from tests.cloud.helpers import all_readings
from tests.fix_broker import BrokerAddress
from wire.hj212 import CN_DATA_RESPONSE, CN_REALTIME, DataItem, Edition, PeerCipher

MN = "010000A8900016F000169DC0"
KEY_HEX = "000102030405060708090a0b0c0d0e0f"

STATIONS = f"""\
stations:
  - mn: {MN}
    gateway: hj-station
    password_file: station.password
    edition: "2025"
    sm4_key_file: station.key
"""


def write_stations(folder: Path, text: str = STATIONS) -> Path:
    (folder / "station.password").write_text("123456\n")
    (folder / "station.key").write_text(KEY_HEX + "\n")
    path = folder / "stations.yaml"
    path.write_text(text)
    return path


async def _register(database_url: str) -> None:
    async with Storage(database_url) as storage:
        await storage.register_gateway("hj-station")


async def _add_station(database_url: str) -> None:
    async with Storage(database_url) as storage:
        key = bytes.fromhex(KEY_HEX)
        await put_station(
            storage, MN, "hj-station", "123456", edition="2025", sm4_key=key, actor="test"
        )


async def _stored(database_url: str) -> list[float]:
    async with Storage(database_url) as storage:
        series = await all_readings(storage, "hj-station", MN, "pm2_5")
    return [r.value for r in series.readings]


def test_serve_with_the_hj212_listener_stores_a_loggers_upload(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    asyncio.run(_register(migrated_database_url))
    settings = Settings(
        database_url=SecretStr(migrated_database_url),
        mqtt_url=SecretStr(mqtt_broker.url),
        topic_root=topic_root,
        hj212_listen="127.0.0.1:0",
    )
    app = create_app(settings, ingest=True)
    listeners = app.state.listeners
    assert isinstance(listeners, ListenerSet)
    with TestClient(app) as client:
        assert listeners.hj212 is not None
        port = listeners.hj212.port
        asyncio.run(_add_station(migrated_database_url))  # while serving: no restart needed

        async def upload() -> str:
            async with Hj212Logger(
                "127.0.0.1", port, mn=MN, password="123456", edition=Edition.HJ212_2025,
                cipher=PeerCipher(bytes.fromhex(KEY_HEX)),
            ) as logger:  # fmt: skip
                when = datetime.now().astimezone()
                items = (DataItem("a34004", (("Rtd", "42.5"), ("Flag", "N"))),)
                qn = f"{when:%Y%m%d%H%M%S}000"
                answer = await logger.upload(logger.packet(CN_REALTIME, when, items, qn=qn))
            return answer.cn

        assert client.portal is not None
        assert client.portal.call(upload) == CN_DATA_RESPONSE
    assert asyncio.run(_stored(migrated_database_url)) == [42.5]


def test_the_listener_is_off_by_default_and_the_old_stations_file_is_refused(
    tmp_path: Path,
) -> None:
    assert Settings().hj212_address() is None
    old = Settings(hj212_listen="127.0.0.1:6000", hj212_stations_file=write_stations(tmp_path))
    with pytest.raises(ConfigError, match=r"shanshui cloud hj212 station import .*stations.yaml"):
        ListenerSet(old, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="host:port"):
        Settings(hj212_listen="6000")


def test_a_broken_stations_file_names_line_and_key(tmp_path: Path) -> None:
    text = STATIONS.replace('"2025"', '"2019"')
    with pytest.raises(ConfigError) as caught:
        load_stations(write_stations(tmp_path, text))
    assert str(caught.value).startswith("stations.yaml:5: stations[0].edition: ")
    path = write_stations(tmp_path)
    (tmp_path / "station.key").write_text("0011\n")
    with pytest.raises(ConfigError) as caught:
        load_stations(path)
    assert str(caught.value) == (
        "stations.yaml:6: stations[0].sm4_key_file: must hold the 16-byte SM4 key as 32 hex digits"
    )
    stations = load_stations(write_stations(tmp_path))
    assert stations[MN].password_matches("123456")
    assert "123456" not in repr(stations)


def test_an_operators_command_reaches_the_connected_logger_through_the_listener(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asyncio.run(_register(migrated_database_url))
    asyncio.run(_add_station(migrated_database_url))
    settings = Settings(
        database_url=SecretStr(migrated_database_url),
        mqtt_url=SecretStr(mqtt_broker.url),
        topic_root=topic_root,
        hj212_listen="127.0.0.1:0",
    )
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    app = create_app(settings, ingest=True)
    with TestClient(app) as client:
        listeners = app.state.listeners
        assert client.portal is not None
        assert listeners.hj212 is not None
        logger = Hj212Logger(
            "127.0.0.1", listeners.hj212.port, mn=MN, password="123456",
            edition=Edition.HJ212_2025, cipher=PeerCipher(bytes.fromhex(KEY_HEX)),
        )  # fmt: skip

        async def connect() -> None:
            await logger.connect()
            when = datetime.now().astimezone()
            items = (DataItem("a34004", (("Rtd", "40"), ("Flag", "N"))),)
            await logger.upload(
                logger.packet(CN_REALTIME, when, items, qn=f"{when:%Y%m%d%H%M%S}000")
            )

        client.portal.call(connect)
        answering = client.portal.start_task_soon(logger.answer_commands)
        runner = CliRunner()
        done = runner.invoke(
            cli, ["hj212", "command", MN, "set-interval", "120", "--timeout", "20"]
        )
        assert done.exit_code == 0, done.output
        assert "done QnRtn=1 ExeRtn=1" in done.output
        read = runner.invoke(cli, ["hj212", "command", MN, "get-interval", "--timeout", "20"])
        assert read.exit_code == 0, read.output
        assert "RtdInterval=120" in read.output
        bad = runner.invoke(cli, ["hj212", "command", MN, "set-time", "tomorrow"])
        assert (bad.exit_code, "YYYYMMDDhhmmss" in bad.output) == (2, True)
        client.portal.call(logger.close)
        answering.result(timeout=10)
        gone = runner.invoke(cli, ["hj212", "command", MN, "get-time", "--timeout", "1"])
        assert gone.exit_code == 1
        assert "failed" in gone.output
