"""A new gateway secret delivered encrypted over down/cmd, on real parts.

Registry in PostgreSQL, a real broker and ingest worker, and a supervised agent
polling a simulated station: the cloud rotates while batches flow, and every
reading that entered the outbox reaches the database exactly once; forged and
replayed rotate commands change nothing; no secret appears in any log or output.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud.cli import app as cloud_cli
from cloud.errors import RemoteError
from cloud.gateway_control import Broker, resume_rotation, rotate_secret_and_push
from cloud.settings import parse_mqtt_url
from cloud.storage import Storage
from cloud.storage.sealing import SecretKey
from edge.app import Agent
from edge.config import EdgeConfig
from edge.remote import Supervisor
from edge.remote_link import cmd_ack_topic, cmd_topic
from tests.e2e.support import assert_exactly_once, gateway_rig, outbox_counts, stored
from tests.edge.support import MqttProbe, journaled, supervised, write_idle_gateway
from tests.fix_broker import BrokerAddress
from wire.secret_transfer import seal_secret
from wire.signing import sign_object, verify_object

pytestmark = pytest.mark.e2e

TIMEOUT_S = 30.0


def patient_agent(config: EdgeConfig) -> Agent:
    return Agent(config, shutdown_timeout_s=2)  # the last batches are acked before it stops


def running(supervisor: Supervisor) -> Agent:
    agent = supervisor.agent
    assert agent is not None
    return agent


def test_rotation_over_down_cmd_loses_no_batch_and_replays_change_nothing(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    broker = Broker(parse_mqtt_url(mqtt_broker.url), topic_root)
    leaked: list[bytes] = []

    async def scenario() -> None:
        async with (
            gateway_rig(
                migrated_database_url,
                mqtt_broker,
                topic_root,
                tmp_path,
                prefix="gw-rot",
                ack_timeout_s=5,
            ) as rig,
            rig.ingest_worker() as worker,
        ):
            storage, gateway, old = rig.storage, rig.gateway, rig.secret
            secret_file = tmp_path / "gateway.secret"
            async with (
                supervised(tmp_path / "gateway.yaml", agent_factory=patient_agent) as supervisor,
                MqttProbe(
                    mqtt_broker.host, mqtt_broker.port, cmd_topic(topic_root, gateway)
                ) as sent,
                MqttProbe(
                    mqtt_broker.host, mqtt_broker.port, cmd_ack_topic(topic_root, gateway)
                ) as answers,
            ):
                agent = running(supervisor)
                await agent.wait_until(lambda h: h.acked_batches >= 2, TIMEOUT_S)

                # batches flow while the cloud rotates: the answer is signed with the new secret
                answer = await rotate_secret_and_push(
                    storage,
                    broker,
                    gateway,
                    grace=timedelta(hours=1),
                    timeout_s=TIMEOUT_S,
                    actor="test",
                )
                new = await storage.gateway_secret(gateway)
                assert new is not None
                assert new != old
                leaked.extend([old, new, json.dumps(answer).encode()])
                assert answer["result"] == "ok"
                assert set(answer) == {"kind", "id", "cmd", "result"}
                signed_answer = (await answers.next(TIMEOUT_S)).payload
                verify_object(signed_answer, new)
                assert supervisor.agent is agent  # no restart: the next batch is signed anew
                assert secret_file.read_text().strip() == new.hex()
                assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600

                # the cloud acks under the new secret: the old one is then deleted
                acked = agent.health().acked_batches
                await agent.wait_until(lambda h: h.acked_batches >= acked + 3, TIMEOUT_S)
                assert not (tmp_path / "gateway.secret.previous").exists()
                assert agent.retired_secret.value is None

                # the rotate command replayed (signed with the old secret): ignored
                original = (await sent.next(TIMEOUT_S)).payload
                forged_before = supervisor.forged
                await sent_again(mqtt_broker, cmd_topic(topic_root, gateway), original)
                # a well-signed rotate whose secret is sealed under another key: refused
                bogus_id = "bogus-1"
                sealed = seal_secret(bytes(32), bytes(range(32)), gateway, bogus_id)
                bogus = {"id": bogus_id, "cmd": "rotate-secret", "args": [sealed.hex()]}
                await sent_again(
                    mqtt_broker,
                    cmd_topic(topic_root, gateway),
                    sign_object(json.dumps(bogus).encode(), new),
                )
                refusal = json.loads(verify_object((await answers.next(TIMEOUT_S)).payload, new))
                assert refusal["id"] == bogus_id
                assert refusal["result"] == "rejected"
                assert "does not open" in refusal["reason"]
                assert supervisor.forged == forged_before + 1
                assert secret_file.read_text().strip() == new.hex()

                health = agent.health()
                assert health.forged_acks == 0
                assert health.quarantined_batches == 0
                await agent.stop()
            assert worker.stats.dead_lettered == 0
            assert outbox_counts(tmp_path / "var") == (0, 0, 0)
            held, seqs = journaled(tmp_path / "var")
            assert len(seqs) == len(set(seqs))
            assert_exactly_once(held, await stored(storage, gateway, ["th1"]))

    asyncio.run(asyncio.wait_for(scenario(), 120))
    for secret in leaked[:2]:
        assert secret.hex() not in caplog.text
        assert secret.hex() not in leaked[2].decode()


async def sent_again(broker: BrokerAddress, topic: str, payload: bytes) -> None:
    from paho.mqtt import publish  # noqa: PLC0415 - a one-shot publisher

    await asyncio.to_thread(
        publish.single, topic, payload, qos=1, hostname=broker.host, port=broker.port
    )


def test_the_cli_rotates_pushes_and_prints_no_secret(  # noqa: PLR0917 - fixtures
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key_text = SecretKey.generate_text()
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("SHANSHUI_SECRET_KEY", key_text)
    monkeypatch.setenv("SHANSHUI_MQTT_URL", mqtt_broker.url)
    monkeypatch.setenv("SHANSHUI_TOPIC_ROOT", topic_root)
    monkeypatch.delenv("SHANSHUI_INGEST_CLIENT_ID", raising=False)
    gateway = f"gw-cli-{secrets.token_hex(3)}"
    secret_file = tmp_path / "gateway.secret"

    async def scenario() -> tuple[bytes, bytes, str, int]:
        async with Storage(migrated_database_url, secret_key=SecretKey.parse(key_text)) as storage:
            old = await storage.register_gateway(gateway)
            path = write_idle_gateway(
                tmp_path, gateway, mqtt_port=mqtt_broker.port, topic_root=topic_root, secret=old
            )
            async with supervised(path):
                result = await asyncio.to_thread(
                    CliRunner().invoke,
                    cloud_cli,
                    ["gateway", "rotate-secret", gateway, "--push", "--grace-hours", "1"],
                )
            new = await storage.gateway_secret(gateway)
            assert new is not None
            return old, new, result.stdout, result.exit_code

    old, new, output, code = asyncio.run(asyncio.wait_for(scenario(), 120))
    assert code == 0, output
    assert json.loads(output)["result"] == "ok"
    assert secret_file.read_text().strip() == new.hex()
    for secret in (old, new):
        assert secret.hex() not in output
        assert secret.hex() not in caplog.text


def test_a_rotation_without_an_answer_is_delivered_again_with_resume(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    """The command was lost (the gateway still holds the old secret), then its answer was lost."""
    gateway = f"gw-res-{secrets.token_hex(3)}"
    broker = Broker(parse_mqtt_url(mqtt_broker.url), topic_root)

    async def scenario() -> None:
        async with Storage(migrated_database_url) as storage:
            old = await storage.register_gateway(gateway)
            path = write_idle_gateway(
                tmp_path, gateway, mqtt_port=mqtt_broker.port, topic_root=topic_root, secret=old
            )
            async with supervised(path) as supervisor:
                with pytest.raises(RemoteError, match=r"no rotation of .* is pending"):
                    await resume_rotation(storage, broker, gateway, timeout_s=5, actor="test")
                # rotated in the registry, but the command never reached the gateway
                new = await storage.rotate_secret(gateway, grace=timedelta(hours=1))
                answer = await resume_rotation(storage, broker, gateway, timeout_s=20, actor="t")
                assert (answer["result"], answer.get("detail")) == ("ok", None)
                assert supervisor.config.secret.get_secret_value() == new
                assert (tmp_path / "gateway.secret.previous").read_text().strip() == old.hex()
                # the answer was lost: resumed again, the gateway says it is in force already
                answer = await resume_rotation(storage, broker, gateway, timeout_s=20, actor="t")
                assert (answer["result"], answer["detail"]) == ("ok", "already in force")
                assert supervisor.config.secret.get_secret_value() == new
                assert supervisor.forged == 0

    asyncio.run(asyncio.wait_for(scenario(), 120))
