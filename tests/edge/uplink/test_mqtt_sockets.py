"""A closed MQTT client holds no descriptor: agents swapped in one process leak nothing.

paho closes its wake-up socketpair only in ``__del__``, and our clients sit in
reference cycles (their callbacks are bound methods), so without an explicit
close every stopped client kept two sockets until the garbage collector ran,
which then warned about them (ResourceWarning). The collector is off here, so a
leak shows as descriptors that stay open.
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config import load_config
from edge.remote_link import ControlLink
from edge.uplink.mqtt import MqttUplink
from tests.edge.support import run, write_idle_gateway
from tests.fix_broker import BrokerAddress

ROUNDS = 3


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture
def no_collector() -> Iterator[None]:
    with warnings.catch_warnings():
        # what earlier tests left to the collector is not this test's subject
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
@pytest.mark.usefixtures("no_collector")
def test_closed_uplinks_and_control_links_keep_no_socket_open(
    mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"
    path = write_idle_gateway(tmp_path, gw, mqtt_port=mqtt_broker.port, topic_root=topic_root)
    config = load_config(path, environ={})

    async def scenario() -> None:
        before = open_descriptors()
        for _ in range(ROUNDS):
            uplink = MqttUplink(gw, config.settings.mqtt, secret=config.secret.get_secret_value)
            up = asyncio.Event()

            def state(connected: bool, up: asyncio.Event = up) -> None:
                if connected:
                    up.set()

            await uplink.open(lambda _ack: None, state)
            await asyncio.wait_for(up.wait(), 20)
            await uplink.close(2)
            link = ControlLink(config, lambda _kind, _payload: None)
            await link.open()
            await asyncio.wait_for(link.ready.wait(), 20)
            await link.close()
        assert open_descriptors() <= before  # none kept: each client had 3 (TCP + socketpair)

    run(scenario)
