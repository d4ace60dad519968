"""The platform's commands (1011/1012/1061/1062) to a connected logger (simulator), answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from cloud.ingest.hj212_commands import CommandError
from cloud.ingest.hj212_readings import Station
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from simulators.hj212_logger import Hj212Logger
from wire.hj212 import (
    CN_GET_RTD_INTERVAL,
    CN_GET_TIME,
    CN_REALTIME,
    CN_SET_RTD_INTERVAL,
    CN_SET_TIME,
    DataItem,
    Edition,
    PeerCipher,
    parse_system_time,
)

pytestmark = pytest.mark.anyio

MN = "WQ0001EXAMPLE00000000001"
KEY = PeerCipher(bytes.fromhex("00112233445566778899aabbccddeeff"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(migrated_database_url: str) -> AsyncIterator[Hj212Server]:
    async with Storage(migrated_database_url, max_size=2) as storage:
        await storage.register_gateway("station-1")
        station = Station(MN, "654321", "station-1", Edition.HJ212_2025, KEY)
        running = Hj212Server(IngestPipeline(storage), {MN: station})
        await running.start()
        yield running
        await running.stop()


async def test_commands_read_and_set_the_loggers_interval_and_clock(server: Hj212Server) -> None:
    with pytest.raises(CommandError, match="not connected"):
        await server.command(MN, CN_GET_TIME)
    async with Hj212Logger(
        "127.0.0.1", server.port, mn=MN, password="654321", st="21",
        edition=Edition.HJ212_2025, cipher=KEY, answer_timeout_s=2.0,
    ) as logger:  # fmt: skip
        now = logger.now()
        items = (DataItem("w01001", (("Rtd", "7.5"), ("Flag", "N"))),)
        packet = logger.packet(CN_REALTIME, now, items, qn=f"{now:%Y%m%d%H%M%S}000")
        await logger.upload(packet)  # the server now knows the logger's connection
        answering = asyncio.create_task(logger.answer_commands())
        try:
            interval = await server.command(MN, CN_GET_RTD_INTERVAL, timeout_s=10)
            assert (interval.succeeded, interval.values) == (True, {"RtdInterval": "30"})
            assert interval.command.st == "21"  # the station's system code

            done = await server.command(MN, CN_SET_RTD_INTERVAL, "60", timeout_s=10)
            assert (done.qn_rtn, done.exe_rtn, logger.rtd_interval_s) == (1, 1, 60)

            wanted = datetime(2030, 1, 1, 8, 0, 0)
            await server.command(MN, CN_SET_TIME, f"{wanted:%Y%m%d%H%M%S}", timeout_s=10)
            clock = await server.command(MN, CN_GET_TIME, timeout_s=10)
            told = parse_system_time(clock.values["SystemTime"])
            assert timedelta(0) <= told - wanted < timedelta(minutes=1)

            with pytest.raises(CommandError, match="at least 1"):
                await server.command(MN, CN_SET_RTD_INTERVAL, "0")
            assert logger.commands_answered == 4
        finally:
            answering.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answering
