"""Two ``shanshui cloud ingest`` processes on one shared subscription store each batch once.

Real subprocesses, the real broker of the suite (Mosquitto when installed) and a
real, migrated PostgreSQL: the broker splits the stream between the workers of
the group, and together they store every batch of it exactly once.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from pathlib import Path

import psycopg
import pytest

from cloud.storage import Storage
from cloud.storage.sealing import SecretKey
from tests.cloud.helpers import make_batch, now_ms, publisher, telemetry_topic
from tests.e2e.test_chaos import POLL_S, kill, spawn, until
from tests.fix_broker import BrokerAddress
from wire import sign_batch

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

BATCHES = 300


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


STOPPED = re.compile(rb"stopped: (\d+) accepted, (\d+) duplicate, (\d+) dead-lettered")


async def _stored_seqs(url: str, gateway_id: str) -> list[int]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT seq FROM ingested_batches WHERE gateway_id = %s ORDER BY seq", (gateway_id,)
        )
        return [row[0] for row in await cursor.fetchall()]


async def _reading_count(url: str, gateway_id: str) -> int:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM readings r JOIN series s ON s.id = r.series_id "
            "JOIN devices d ON d.id = s.device_id WHERE d.gateway_id = %s",
            (gateway_id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def _until_stored(url: str, gateway_id: str, timeout_s: float = 120.0) -> list[int]:
    """Poll the database (the workers' observable state) until every batch is in."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while len(stored := await _stored_seqs(url, gateway_id)) < BATCHES:
        if loop.time() > deadline:
            raise TimeoutError(f"{len(stored)} of {BATCHES} batches stored in {timeout_s:g} s")
        await asyncio.sleep(POLL_S)
    return stored


async def test_two_worker_processes_share_a_stream_and_store_each_batch_once(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gateway = "gw-shared"
    async with Storage(migrated_database_url, max_size=1) as storage:
        secret = await storage.register_gateway(gateway)
    env = {
        "SHANSHUI_DATABASE_URL": migrated_database_url,
        "SHANSHUI_MQTT_URL": f"mqtt://{mqtt_broker.host}:{mqtt_broker.port}",
        "SHANSHUI_TOPIC_ROOT": topic_root,
        "SHANSHUI_INGEST_GROUP": "shared-test",
        "SHANSHUI_SECRET_KEY": SecretKey.generate_text(),
    }
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        workers = [spawn(["cloud", "ingest"], env, log) for log in logs]
        for log in logs:
            await until(f"{log.name} subscribed", lambda log=log: b"subscribed" in log.read_bytes())
        start = now_ms() - BATCHES * 1000
        topic = telemetry_topic(topic_root, gateway)
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            for seq in range(1, BATCHES + 1):
                batch = make_batch(gateway, seq, [20.0 + seq / 100], start_ms=start + seq * 1000)
                pub.publish(topic, sign_batch(batch, secret))
        stored = await _until_stored(migrated_database_url, gateway)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            assert worker.wait(timeout=30) == 0
    finally:
        for worker in workers:
            kill(worker)

    assert stored == list(range(1, BATCHES + 1))
    assert await _reading_count(migrated_database_url, gateway) == BATCHES
    counts = []
    for log in logs:
        found = STOPPED.search(log.read_bytes())
        assert found is not None, log.read_text()
        counts.append(tuple(int(n) for n in found.groups()))
    accepted = [c[0] for c in counts]
    assert sum(accepted) == BATCHES  # each batch stored by exactly one of them
    assert all(n > 0 for n in accepted), counts  # the broker shared the stream
    assert [c[2] for c in counts] == [0, 0]
