"""Remote configuration and commands on a real broker: down/config, down/cmd, up/cmd-ack."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from paho.mqtt import publish

from edge.config import EdgeConfig
from edge.remote import Supervisor
from edge.remote_link import cmd_ack_topic, cmd_topic, config_topic
from edge.uplink.mqtt_topics import status_topic
from tests.edge.support import (
    SECRET,
    CloudAcker,
    MqttProbe,
    run,
    station_and_gateway,
    supervised,
    write_idle_gateway,
)
from tests.fix_broker import BrokerAddress
from wire.signing import sign_object, verify_object

FORGER = bytes(32)


def signed(message: dict[str, Any], secret: bytes = SECRET) -> bytes:
    return sign_object(json.dumps(message, separators=(",", ":")).encode(), secret)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Cloud:
    """Publishes down/config and down/cmd for one gateway and reads its cmd-acks."""

    def __init__(self, broker: BrokerAddress, root: str, gw: str, probe: MqttProbe) -> None:
        self.broker, self.root, self.gw, self.probe = broker, root, gw, probe

    async def send(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        await asyncio.to_thread(
            publish.single,
            topic,
            payload,
            qos=1,
            retain=retain,
            hostname=self.broker.host,
            port=self.broker.port,
        )

    async def push_config(self, version: str, text: str, secret: bytes = SECRET) -> None:
        message = signed({"version": version, "yaml": text}, secret)
        await self.send(config_topic(self.root, self.gw), message, retain=True)

    async def command(self, cid: str, name: str, *args: Any, secret: bytes = SECRET) -> None:
        message = signed({"id": cid, "cmd": name, "args": list(args)}, secret)
        await self.send(cmd_topic(self.root, self.gw), message)

    async def answer(self) -> dict[str, Any]:
        message = await self.probe.next_on(cmd_ack_topic(self.root, self.gw), timeout_s=30)
        body: dict[str, Any] = json.loads(verify_object(message.payload, SECRET))
        return body


@asynccontextmanager
async def supervised_with_cloud(
    broker: BrokerAddress, root: str, path: Path, gw: str, timeout_s: float = 20.0
) -> AsyncIterator[tuple[Supervisor, Cloud]]:
    async with (
        MqttProbe(broker.host, broker.port, cmd_ack_topic(root, gw)) as probe,
        CloudAcker(broker.host, broker.port, root),
        supervised(path, connect_timeout_s=timeout_s) as supervisor,
    ):
        yield supervisor, Cloud(broker, root, gw, probe)


def intervals(config: EdgeConfig) -> dict[str, float]:
    return {d.id: d.interval_s for bus in config.settings.buses for d in bus.devices}


def test_forged_pushes_change_nothing_broken_ones_roll_back_good_ones_apply(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root
        ) as (_, path):
            original = path.read_text()
            async with supervised_with_cloud(mqtt_broker, topic_root, path, gw) as (
                supervisor,
                cloud,
            ):
                first_agent = supervisor.agent
                document = yaml.safe_load(original)

                # forged and unsigned: ignored and counted, no answer
                document["buses"][0]["devices"][0]["interval_s"] = 7.0
                await cloud.push_config("forged", yaml.safe_dump(document), secret=FORGER)
                await cloud.command("c0", "poll-now", secret=FORGER)
                await cloud.send(cmd_topic(topic_root, gw), b'{"id":"c1","cmd":"poll-now"}')
                await cloud.command("c2", "diagnostics")
                answer = await cloud.answer()
                assert answer["id"] == "c2"
                assert answer["result"] == "ok"
                assert answer["health"]["gw"] == gw
                assert answer["health"]["forged_remote"] == 3
                assert supervisor.forged == 3
                assert supervisor.agent is first_agent
                assert path.read_text() == original

                # broken: refused with the loader's file:line error, old agent untouched
                broken = original.replace("interval_s: 0.1", "interval_s: soon")
                await cloud.push_config("v-broken", broken)
                answer = await cloud.answer()
                assert answer["result"] == "rejected"
                assert answer["version"] == "v-broken"
                assert "gateway.yaml.pushed:" in answer["reason"]
                assert "interval_s" in answer["reason"]
                assert supervisor.agent is first_agent
                assert path.read_text() == original

                # changing the identity is refused too
                other = dict(document, gateway=dict(document["gateway"], secret_file="x"))
                await cloud.push_config("v-secret", yaml.safe_dump(other))
                answer = await cloud.answer()
                assert answer["result"] == "rejected"
                assert "secret_file" in answer["reason"]

                # good: a new agent with the new interval, polling, and the file replaced
                document["buses"][0]["devices"][0]["interval_s"] = 0.3
                await cloud.push_config("v2", yaml.safe_dump(document))
                answer = await cloud.answer()
                assert answer == {
                    "kind": "config",
                    "version": "v2",
                    "result": "applied",
                    "reason": None,
                }
                assert supervisor.agent is not first_agent
                assert intervals(supervisor.config) == {"th1": 0.3}
                assert yaml.safe_load(path.read_text())["buses"][0]["devices"][0]["interval_s"] == (
                    0.3
                )
                assert supervisor.applied_version == "v2"
                agent = supervisor.agent
                assert agent is not None
                await agent.wait_until(lambda h: h.devices["th1"].state == "ok", 20)
                await supervisor.wait_ready(20)

                await cloud.command("c3", "diagnostics")
                answer = await cloud.answer()
                assert answer["health"]["config_version"] == "v2"
                # the cloud reads the version in force from the retained presence message
                async with MqttProbe(
                    mqtt_broker.host, mqtt_broker.port, status_topic(topic_root, gw)
                ) as presence:
                    while True:
                        status = json.loads(
                            verify_object(
                                (await asyncio.wait_for(presence.messages.get(), 20)).payload,
                                SECRET,
                            )
                        )
                        if status.get("config_version") == "v2":
                            break

    run(scenario)


def test_commands_poll_now_set_interval_resend_and_replays(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        async with station_and_gateway(
            tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root, interval_s=3600
        ) as (_, path):
            path.write_text("# Station 7: keep this comment\n" + path.read_text())
            async with supervised_with_cloud(mqtt_broker, topic_root, path, gw) as (
                supervisor,
                cloud,
            ):
                agent = supervisor.agent
                assert agent is not None
                await agent.wait_until(lambda h: h.devices["th1"].state == "ok", 20)

                await cloud.command("p1", "poll-now")
                assert await cloud.answer() == {
                    "kind": "cmd",
                    "id": "p1",
                    "cmd": "poll-now",
                    "result": "ok",
                }
                polled = supervisor.agent
                assert polled is not None
                assert polled is not agent
                await polled.wait_until(lambda h: h.devices["th1"].state == "ok", 20)
                await supervisor.wait_ready(20)

                await cloud.command("p1", "poll-now")  # a replay: ignored
                await cloud.command("s1", "set-interval", "th1", 0.5)
                answer = await cloud.answer()
                assert (answer["id"], answer["result"]) == ("s1", "ok")
                assert intervals(supervisor.config) == {"th1": 0.5}
                assert yaml.safe_load(path.read_text())["buses"][0]["devices"][0]["interval_s"] == (
                    0.5
                )
                assert path.read_text().startswith("# Station 7: keep this comment\n")
                await supervisor.wait_ready(20)

                await cloud.command("s2", "set-interval", "nope", 1)
                answer = await cloud.answer()
                assert (answer["id"], answer["result"]) == ("s2", "rejected")
                assert "nope" in answer["reason"]

                await cloud.command("r1", "resend", 0, 1)
                answer = await cloud.answer()
                assert (answer["id"], answer["result"]) == ("r1", "not_available")

    run(scenario)


def test_a_config_that_cannot_reach_its_broker_is_rolled_back(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"

    async def scenario() -> None:
        path = write_idle_gateway(tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root)
        original = path.read_text()
        async with supervised_with_cloud(mqtt_broker, topic_root, path, gw, timeout_s=1.0) as (
            supervisor,
            cloud,
        ):
            document = yaml.safe_load(original)
            document["mqtt"]["port"] = free_port()
            await cloud.push_config("v-away", yaml.safe_dump(document))
            answer = await cloud.answer()
            assert answer["result"] == "rejected"
            assert "not reached within 1s" in answer["reason"]
            assert supervisor.config.settings.mqtt.port == mqtt_broker.port
            assert path.read_text() == original
            assert supervisor.applied_version is None
            await supervisor.wait_ready(20)

    run(scenario)
