"""Acknowledgement after commit, on real parts: agent -> broker -> ingest worker -> PostgreSQL.

Every reading that entered the gateway's outbox (recorded by test-only SQLite
triggers, see ``tests.edge.support.journal_outbox``) must be in the database
exactly once, and only the cloud's signed ack may empty the outbox.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cloud.errors import SeriesNotFoundError
from cloud.ingest import IngestWorker
from cloud.settings import parse_mqtt_url
from cloud.storage import Storage
from edge.app import Agent
from edge.cli import app as edge_cli
from edge.config import load_config
from edge.outbox import OutboxStore
from simulators.modbus_tcp import SimulatedStation
from tests.edge.support import journal_outbox, journaled, write_gateway
from tests.fix_broker import BrokerAddress
from wire import Reading

pytestmark = pytest.mark.e2e

MODEL = "jxct-th-rs485"
TIMEOUT_S = 30.0
QUANTITIES = ("air_temperature", "relative_humidity")


async def stored(storage: Storage, gateway: str, devices: list[str]) -> list[tuple[str, str, int]]:
    """Every reading of the gateway in the database, as (device, quantity, time_ms)."""
    rows = []
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    for device in devices:
        for quantity in QUANTITIES:
            try:
                series = await storage.readings(
                    gateway, device, quantity, start=start, end=end, limit=1_000_000
                )
            except SeriesNotFoundError:
                continue
            rows.extend((device, quantity, r.time_ms) for r in series.readings)
    return rows


def outbox_counts(data_dir: Path) -> tuple[int, int, int]:
    store = OutboxStore.open(data_dir)
    try:
        counts = store.counts()
    finally:
        store.close()
    return counts.pending_readings, counts.unacked_batches, counts.quarantined_batches


def assert_exactly_once(held: list[tuple[str, str, int]], got: list[tuple[str, str, int]]) -> None:
    assert held, "the gateway held nothing: the test proved nothing"
    assert Counter(got) == Counter(held)  # each reading once, none missing, none extra


def test_only_the_clouds_ack_after_commit_empties_the_outbox(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gateway = f"gw-ack-{secrets.token_hex(3)}"
    endpoint = parse_mqtt_url(mqtt_broker.url)

    async def scenario() -> None:
        async with (
            Storage(migrated_database_url) as storage,
            SimulatedStation.for_model(MODEL, [1], port=0) as station,
        ):
            secret = await storage.register_gateway(gateway)
            path = write_gateway(
                tmp_path,
                gateway_id=gateway,
                mqtt_port=mqtt_broker.port,
                topic_root=topic_root,
                modbus_port=station.port,
                slaves={"th1": 1},
                secret=secret,
                ack_timeout_s=0.5,
            )
            config = load_config(path, environ={})
            journal_outbox(config.data_dir)
            async with Agent(config) as agent:
                # no worker yet: the broker PUBACKs every batch, and nothing is deleted
                await agent.wait_until(lambda h: h.unacked_batches >= 3, TIMEOUT_S)
                assert agent.health().acked_batches == 0
                async with IngestWorker(storage, endpoint, topic_root=topic_root) as worker:
                    health = await agent.wait_until(lambda h: h.acked_batches >= 6, TIMEOUT_S)
                    assert health.forged_acks == 0
                    assert worker.stats.acks_published >= 1
                    await agent.stop()  # flush: the last batches are settled before it ends
            assert outbox_counts(config.data_dir) == (0, 0, 0)
            held, seqs = journaled(config.data_dir)
            assert len(seqs) == len(set(seqs))
            assert_exactly_once(held, await stored(storage, gateway, ["th1"]))

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_rotated_secret_loses_no_batch(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """Batches signed with the old secret are refused; once the gateway has the new one, they go.

    The cloud's refusals are signed with the new secret, which the gateway cannot
    verify yet: they delete nothing (counted as forged). Restarted with the new
    secret, the gateway signs what waits in its outbox afresh, and it is stored.
    """
    gateway = f"gw-rot-{secrets.token_hex(3)}"
    endpoint = parse_mqtt_url(mqtt_broker.url)

    async def scenario() -> None:
        async with (
            Storage(migrated_database_url) as storage,
            SimulatedStation.for_model(MODEL, [1], port=0) as station,
            IngestWorker(storage, endpoint, topic_root=topic_root) as worker,
        ):
            old = await storage.register_gateway(gateway)
            options = {
                "gateway_id": gateway,
                "mqtt_port": mqtt_broker.port,
                "topic_root": topic_root,
                "modbus_port": station.port,
                "slaves": {"th1": 1},
                "ack_timeout_s": 0.5,
            }
            config = load_config(write_gateway(tmp_path, secret=old, **options), environ={})
            journal_outbox(config.data_dir)
            async with Agent(config) as agent:
                await agent.wait_until(lambda h: h.acked_batches >= 2, TIMEOUT_S)
                new = await storage.rotate_secret(gateway, grace=timedelta(0))
                dead = worker.stats.dead_lettered
                await worker.wait_until(lambda s: s.dead_lettered >= dead + 3, TIMEOUT_S)
                health = await agent.wait_until(lambda h: h.forged_acks >= 1, TIMEOUT_S)
                assert health.unacked_batches >= 1
                assert health.quarantined_batches == 0
            config = load_config(write_gateway(tmp_path, secret=new, **options), environ={})
            async with Agent(config) as agent:
                await agent.wait_until(lambda h: h.acked_batches >= 3, TIMEOUT_S)
                await agent.stop()
            assert outbox_counts(config.data_dir) == (0, 0, 0)
            held, _ = journaled(config.data_dir)
            assert_exactly_once(held, await stored(storage, gateway, ["th1"]))

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_batch_the_cloud_cannot_read_is_quarantined_as_never_acknowledged(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """Its seq is unreadable, so no ack names it; newer batches are acked: it is set aside."""
    gateway = f"gw-lost-{secrets.token_hex(3)}"
    endpoint = parse_mqtt_url(mqtt_broker.url)

    async def scenario() -> None:
        async with (
            Storage(migrated_database_url) as storage,
            SimulatedStation.for_model(MODEL, [1], port=0) as station,
            IngestWorker(storage, endpoint, topic_root=topic_root) as worker,
        ):
            secret = await storage.register_gateway(gateway)
            path = write_gateway(
                tmp_path,
                gateway_id=gateway,
                mqtt_port=mqtt_broker.port,
                topic_root=topic_root,
                modbus_port=station.port,
                slaves={"th1": 1},
                secret=secret,
                ack_timeout_s=0.3,
            )
            document = yaml.safe_load(path.read_text())
            document["publish"]["quarantine_after_sends"] = 3
            path.write_text(yaml.safe_dump(document))
            config = load_config(path, environ={})
            lost = corrupt_batch(config.data_dir, gateway)
            async with Agent(config) as agent:
                health = await agent.wait_until(lambda h: h.quarantined_batches == 1, TIMEOUT_S)
                assert health.acked_batches >= 1
                assert worker.stats.dead_lettered >= 3  # sent 3 times, refused unread each time
                await agent.stop()
            store = OutboxStore.open(config.data_dir)
            try:
                kept = store.quarantined()
                counts = store.counts()
            finally:
                store.close()
            assert [(q.seq, q.reason) for q in kept] == [(lost, "never_acknowledged")]
            assert (counts.unacked_batches, counts.quarantined_batches) == (0, 1)
            listed = CliRunner().invoke(edge_cli, ["outbox", "list", "--config", str(path)])
            assert listed.exit_code == 0, listed.output
            assert f"{lost}" in listed.output
            assert "never_acknowledged" in listed.output

    asyncio.run(asyncio.wait_for(scenario(), 90))


def corrupt_batch(data_dir: Path, gateway: str) -> int:
    """Seal one batch in a fresh outbox and garble its stored body; return its seq."""
    store = OutboxStore.open(data_dir)
    try:
        store.enqueue([Reading("th1", "air_temperature", 1_700_000_000_000, 20.5)])
        sealed = store.seal(gateway, 10)
        assert sealed is not None
    finally:
        store.close()
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        with db:
            db.execute("UPDATE batches SET payload = ? WHERE seq = ?", (b"{garbled", sealed.seq))
    finally:
        db.close()
    return sealed.seq
