"""Cloud -> gateway remote configuration and commands over a real broker (cloud.remote + edge)."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
import yaml

from cloud.errors import RemoteError
from cloud.remote import cmd_message, config_message, send_and_wait
from cloud.settings import MqttEndpoint
from tests.edge.support import SECRET, supervised, write_idle_gateway
from tests.fix_broker import BrokerAddress


def test_config_message_checks_the_structure_and_refuses_inline_secrets() -> None:
    good = "gateway: {id: gw-1, secret_file: s}\nmqtt: {host: h}\n"
    version, _ = config_message("gw-1", good, "v1")
    assert version == "v1"
    with pytest.raises(RemoteError, match=r"gateway\.id"):
        config_message("gw-2", good)
    with pytest.raises(RemoteError, match=r"mqtt\.password"):
        config_message("gw-1", good.replace("host: h", "host: h, password: x"))
    with pytest.raises(RemoteError, match="no gateway section"):
        config_message("gw-1", "- a\n")
    _, body = cmd_message("set-interval", ["th1", "2.5"])
    assert b'"args":["th1",2.5]' in body


def test_push_config_and_cmd_round_trip(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"
    path = write_idle_gateway(tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root)
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)

    async def scenario() -> None:
        async with supervised(path) as supervisor:
            document = yaml.safe_load(path.read_text())
            document["publish"]["status_interval_s"] = 30
            version, message = config_message(gw, yaml.safe_dump(document), "v7")
            answer = await send_and_wait(
                endpoint, topic_root, gw, "config", message, SECRET, match=("version", version)
            )
            assert answer["result"] == "applied"
            assert supervisor.config.settings.publish.status_interval_s == 30
            await supervisor.wait_ready(20)
            command_id, message = cmd_message("diagnostics", [])
            answer = await send_and_wait(
                endpoint, topic_root, gw, "cmd", message, SECRET, match=("id", command_id)
            )
            assert answer["result"] == "ok"
            assert answer["health"]["config_version"] == "v7"
            # signed with a wrong secret: the gateway ignores it, the cloud times out
            command_id, message = cmd_message("poll-now", [])
            with pytest.raises(RemoteError, match="no answer"):
                await send_and_wait(
                    endpoint,
                    topic_root,
                    gw,
                    "cmd",
                    message,
                    bytes(32),
                    timeout_s=2,
                    match=("id", command_id),
                )
            assert supervisor.forged == 1

    asyncio.run(asyncio.wait_for(scenario(), timeout=90))
