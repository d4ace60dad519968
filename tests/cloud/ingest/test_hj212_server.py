"""Data logger (simulator) -> HJ 212 TCP server -> pipeline -> real PostgreSQL, exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime

import pytest

from cloud.errors import SeriesNotFoundError
from cloud.ingest.hj212_readings import Station, upload_seq
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from simulators.hj212_logger import Hj212Logger, LoggerError
from tests.cloud.helpers import all_readings
from wire import Quality
from wire.hj212 import DataItem, Edition, PeerCipher, encode_packet

pytestmark = pytest.mark.anyio

MN = "AQ0001EXAMPLE00000000001"
PASSWORD = "654321"
KEY = PeerCipher(bytes.fromhex("00112233445566778899aabbccddeeff"))
ITEMS = (
    DataItem("a34004", (("Rtd", "35"), ("Flag", "N"))),
    DataItem("a21026", (("Rtd", "8.5"), ("Flag", "D"))),
)
NOON = datetime(2026, 6, 1, 12, 0, 0)  # Beijing time: 04:00 UTC
NOON_UTC_MS = 1_780_286_400_000


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        await opened.register_gateway("station-1")
        yield opened


@pytest.fixture
async def server(storage: Storage) -> AsyncIterator[Hj212Server]:
    stations = {
        MN: Station(MN, PASSWORD, "station-1"),
        "WQ25": Station("WQ25", PASSWORD, "station-1", Edition.HJ212_2025, KEY),
    }
    running = Hj212Server(IngestPipeline(storage), stations)
    await running.start()
    yield running
    await running.stop()


def _logger(server: Hj212Server, **options: object) -> Hj212Logger:
    settings: dict[str, object] = {"mn": MN, "password": PASSWORD, "answer_timeout_s": 2.0}
    settings.update(options)
    return Hj212Logger("127.0.0.1", server.port, **settings)  # type: ignore[arg-type]


async def test_uploads_are_answered_after_commit_and_stored_once(
    server: Hj212Server, storage: Storage
) -> None:
    async with _logger(server) as logger:
        first = logger.packet("2011", NOON, ITEMS, qn="20260601120000000")
        answer = await logger.upload(first)
        assert (answer.cn, answer.st, answer.qn) == ("9014", "91", first.qn)
        logger.lose_answers = 1  # the 9014 is lost: the logger sends the packet again
        second = logger.packet("2011", NOON.replace(second=30), ITEMS, qn="20260601120030000")
        await logger.upload(second)
        await logger.upload(first)  # and an old one, as after a reconnection
        assert logger.sent_packets == 4
    pm25 = await all_readings(storage, "station-1", MN, "pm2_5")
    so2 = await all_readings(storage, "station-1", MN, "so2")
    assert [(r.time_ms, r.value) for r in pm25.readings] == [
        (NOON_UTC_MS, 35.0),
        (NOON_UTC_MS + 30_000, 35.0),
    ]
    assert [r.quality for r in so2.readings] == [Quality.FAULT, Quality.FAULT]


async def test_2025_station_with_sm4_and_minute_data(server: Hj212Server, storage: Storage) -> None:
    minute = (DataItem("a34004", (("Min", "30"), ("Avg", "33.5"), ("Max", "37"), ("Flag", "N"))),)
    async with _logger(server, mn="WQ25", edition=Edition.HJ212_2025, cipher=KEY) as logger:
        packet = logger.packet("2051", NOON, minute, qn="20260601120100000")
        assert b"33.5" not in encode_packet(packet, KEY)  # the data area is encrypted
        answer = await logger.upload(packet)
        assert answer.edition is Edition.HJ212_2025
    series = await all_readings(storage, "station-1", "WQ25", "pm2_5")
    assert [r.value for r in series.readings] == [33.5]


async def test_refusals_are_answered_and_kept(server: Hj212Server, storage: Storage) -> None:
    async with _logger(server, password="000000") as logger:
        with pytest.raises(LoggerError, match="QnRtn=3"):
            await logger.upload(logger.packet("2011", NOON, ITEMS, qn="20260601120000000"))
    async with _logger(server, mn="NOTKNOWN") as logger:
        with pytest.raises(LoggerError, match="QnRtn=4"):
            await logger.upload(logger.packet("2011", NOON, ITEMS, qn="20260601120000000"))
    async with _logger(server, mn="WQ25") as logger:  # a 2025 station speaking 2017
        with pytest.raises(LoggerError, match="QnRtn=6"):
            await logger.upload(logger.packet("2011", NOON, ITEMS, qn="20260601120000000"))
    async with _logger(server) as logger:
        hourly = logger.packet("2061", NOON, ITEMS, qn="20260601130000000")
        assert (await logger.upload(hourly)).cn == "9014"
        unknown = (DataItem("x99999", (("Rtd", "1"),)),)
        await logger.upload(logger.packet("2011", NOON, unknown, qn="20260601120100000"))
    reasons = sorted(d.reason for d in await storage.list_dead_letters())
    assert reasons == [
        "hj_bad_password",
        "hj_means_not_stored",
        "hj_unknown_mn",
        "hj_wrong_edition",
        "unknown_quantity",
    ]
    with pytest.raises(SeriesNotFoundError):
        await all_readings(storage, "station-1", MN, "pm2_5")


async def test_bad_crc_gets_qnrtn_9_and_garbage_does_not_stop_the_server(
    server: Hj212Server, storage: Storage
) -> None:
    async with _logger(server) as logger:
        good = logger.packet("2011", NOON, ITEMS, qn="20260601120000000")
        data = encode_packet(good)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"garbage\r\n" + data[:-6] + b"0000\r\n")
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n"), 5)
        assert b"CN=9011" in answer
        assert b"QnRtn=9" in answer
        writer.close()
        await logger.upload(good)
    assert len((await all_readings(storage, "station-1", MN, "pm2_5")).readings) == 1


def test_seq_tells_cn_and_parts_apart() -> None:
    packet = Hj212Logger("h", 1, mn=MN, password=PASSWORD).packet(
        "2011", NOON, ITEMS, qn="20260601120000000"
    )
    seqs = {
        upload_seq(packet),
        upload_seq(replace(packet, cn="2051")),
        upload_seq(replace(packet, pnum=2, pno=1)),
        upload_seq(replace(packet, pnum=2, pno=2)),
    }
    assert len(seqs) == 4
    assert max(seqs) < 2**63
