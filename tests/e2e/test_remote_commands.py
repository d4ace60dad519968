"""Cloud -> gateway remote configuration and commands over a real broker (cloud.remote + edge)."""

from __future__ import annotations

import asyncio
import gc
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cloud.errors import RemoteError
from cloud.remote import cmd_message, config_message, send_and_wait
from cloud.settings import MqttEndpoint
from edge.app import Agent
from edge.remote import Supervisor
from tests.edge.support import SECRET, write_gateway
from tests.fix_broker import BrokerAddress


@pytest.fixture(autouse=True)
def _collect_paho_sockets() -> Iterator[None]:
    """Agents swapped in a test leave paho clients in reference cycles; collect them here.

    A paho client closes its wake-up socketpair in ``__del__``; when a cycle is
    collected later, the sockets may be finalised first and warn (seen about one
    run in six). Collecting right after the test, with that warning ignored, keeps
    it out of unrelated tests.
    """
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


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
    path = write_gateway(
        tmp_path,
        gateway_id=gw,
        mqtt_port=mqtt_broker.port,
        topic_root=topic_root,
        modbus_port=1,
        slaves={},
        with_bus=False,
    )
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)

    async def scenario() -> None:
        supervisor = Supervisor(
            path,
            environ={},
            connect_timeout_s=20,
            agent_factory=lambda c: Agent(c, shutdown_timeout_s=0.5),
        )
        stop = asyncio.Event()
        task = asyncio.create_task(supervisor.run(stop))
        try:
            await supervisor.wait_ready(20)
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
        finally:
            stop.set()
            await task

    asyncio.run(asyncio.wait_for(scenario(), timeout=90))
