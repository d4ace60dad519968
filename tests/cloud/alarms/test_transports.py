"""Every ingest path raises alarms: a batch over HTTP and an HJ 212 upload, each evaluated.

The evaluator follows the database, not a transport: these tests commit through the
HTTP route and through the HJ 212 server (with a simulated data logger), and wait
for the evaluator to be woken by the commit and record the alarm.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from pydantic import SecretStr

from cloud.alarms.worker import AlarmWorker
from cloud.api import create_app
from cloud.ingest.hj212_readings import Station as Hj212Station
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.alarms import Alarm
from simulators.hj212_logger import Hj212Logger
from tests.cloud.alarms.live_helpers import alarms, rules
from tests.cloud.helpers import make_batch, now_ms
from wire import sign_batch
from wire.hj212 import CN_DATA_RESPONSE, DataItem

pytestmark = pytest.mark.anyio
MN = "AQ0001EXAMPLE00000000001"
PASSWORD = "654321"


@pytest.fixture
async def worker(storage: Storage) -> AsyncIterator[AlarmWorker]:
    running = AlarmWorker(storage, tick_s=3600, poll_s=3600)  # woken by notifications only
    await running.start()
    await running.wait_active()
    yield running
    await running.stop()


async def _raised(storage: Storage, worker: AlarmWorker) -> list[Alarm]:
    """The alarms once the evaluator, woken by the commit, has recorded one."""
    await worker.wait_recorded(1)
    return await alarms(storage)


async def test_a_batch_over_http_raises_an_alarm(
    storage: Storage, worker: AlarmWorker, migrated_database_url: str
) -> None:
    await rules(storage, {"id": "hot", "kind": "threshold", "above": 40.0,
                          "scope": {"quantities": ["air_temperature"]}})  # fmt: skip
    secret = await storage.rotate_secret("gw-1")
    app = create_app(Settings(database_url=SecretStr(migrated_database_url)), storage=storage)  # type: ignore[call-arg]
    payload = sign_batch(make_batch("gw-1", 1, [41.5], start_ms=now_ms() - 5000), secret)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://cloud"
    ) as client:
        response = await client.post("/api/v1/ingest", content=payload)
    assert response.status_code == 202, response.text
    [alarm] = await _raised(storage, worker)
    assert (alarm.rule_id, alarm.state, alarm.value) == ("hot", "open", 41.5)


async def test_an_hj212_upload_raises_an_alarm(storage: Storage, worker: AlarmWorker) -> None:
    await rules(storage, {"id": "pm", "kind": "threshold", "above": 75.0,
                          "scope": {"quantities": ["pm2_5"]}})  # fmt: skip
    server = Hj212Server(IngestPipeline(storage), {MN: Hj212Station(MN, PASSWORD, "gw-1")})
    await server.start()
    try:
        async with Hj212Logger("127.0.0.1", server.port, mn=MN, password=PASSWORD) as logger:
            when = datetime.now().astimezone().replace(microsecond=0)
            items = (DataItem("a34004", (("Rtd", "120"), ("Flag", "N"))),)
            packet = logger.packet("2011", when, items, qn=f"{when:%Y%m%d%H%M%S}000")
            answer = await logger.upload(packet)
        assert answer.cn == CN_DATA_RESPONSE
    finally:
        await server.stop()
    [alarm] = await _raised(storage, worker)
    assert (alarm.rule_id, alarm.subject, alarm.value) == ("pm", f"gw-1/{MN}/pm2_5", 120.0)
