"""Acknowledgement after commit, on real parts: agent -> broker -> ingest worker -> PostgreSQL.

Every reading that entered the gateway's outbox (recorded by test-only SQLite
triggers, see ``tests.edge.support.journal_outbox``) must be in the database
exactly once, and only the cloud's signed ack may empty the outbox.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edge.app import Agent
from edge.cli import app as edge_cli
from edge.config import load_config
from edge.outbox import OutboxStore
from tests.e2e.support import assert_exactly_once, gateway_rig, outbox_counts, stored
from tests.edge.support import journaled
from tests.fix_broker import BrokerAddress
from wire import Reading

pytestmark = pytest.mark.e2e

TIMEOUT_S = 30.0


def test_only_the_clouds_ack_after_commit_empties_the_outbox(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    async def scenario() -> None:
        async with gateway_rig(
            migrated_database_url, mqtt_broker, topic_root, tmp_path, prefix="gw-ack"
        ) as rig:
            async with Agent(rig.config()) as agent:
                # no worker yet: the broker PUBACKs every batch, and nothing is deleted
                await agent.wait_until(lambda h: h.unacked_batches >= 3, TIMEOUT_S)
                assert agent.health().acked_batches == 0
                async with rig.ingest_worker() as worker:
                    health = await agent.wait_until(lambda h: h.acked_batches >= 6, TIMEOUT_S)
                    assert health.forged_acks == 0
                    assert worker.stats.acks_published >= 1
                    await agent.stop()  # flush: the last batches are settled before it ends
            assert outbox_counts(rig.data_dir) == (0, 0, 0)
            held, seqs = journaled(rig.data_dir)
            assert len(seqs) == len(set(seqs))
            assert_exactly_once(held, await stored(rig.storage, rig.gateway, ["th1"]))

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_rotated_secret_loses_no_batch(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """Batches signed with the old secret are refused; once the gateway has the new one, they go.

    The cloud's refusals are signed with the new secret, which the gateway cannot
    verify yet: they delete nothing (counted as forged). Restarted with the new
    secret, the gateway signs what waits in its outbox afresh, and it is stored.
    """

    async def scenario() -> None:
        async with (
            gateway_rig(
                migrated_database_url, mqtt_broker, topic_root, tmp_path, prefix="gw-rot"
            ) as rig,
            rig.ingest_worker() as worker,
        ):
            async with Agent(rig.config()) as agent:
                await agent.wait_until(lambda h: h.acked_batches >= 2, TIMEOUT_S)
                new = await rig.storage.rotate_secret(rig.gateway, grace=timedelta(0))
                dead = worker.stats.dead_lettered
                await worker.wait_until(lambda s: s.dead_lettered >= dead + 3, TIMEOUT_S)
                health = await agent.wait_until(lambda h: h.forged_acks >= 1, TIMEOUT_S)
                assert health.unacked_batches >= 1
                assert health.quarantined_batches == 0
            async with Agent(rig.config(new)) as agent:
                await agent.wait_until(lambda h: h.acked_batches >= 3, TIMEOUT_S)
                await agent.stop()
            assert outbox_counts(rig.data_dir) == (0, 0, 0)
            held, _ = journaled(rig.data_dir)
            assert_exactly_once(held, await stored(rig.storage, rig.gateway, ["th1"]))

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_a_batch_the_cloud_cannot_read_is_quarantined_as_never_acknowledged(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """Its seq is unreadable, so no ack names it; newer batches are acked: it is set aside."""

    async def scenario() -> None:
        async with (
            gateway_rig(
                migrated_database_url,
                mqtt_broker,
                topic_root,
                tmp_path,
                prefix="gw-lost",
                ack_timeout_s=0.3,
            ) as rig,
            rig.ingest_worker() as worker,
        ):
            path = rig.write(quarantine_after_sends=3)
            config = load_config(path, environ={})
            lost = corrupt_batch(config.data_dir, rig.gateway)
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
