"""MqttUplink against a real broker: QoS 1 acks, retained status, last will."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable

import pytest

from edge.config import MqttSection
from edge.errors import NotConnectedError
from edge.uplink.mqtt import MqttUplink, status_topic, telemetry_topic
from tests.edge.support import MqttProbe, TcpProxy
from tests.fix_broker import BrokerAddress


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def gateway_id() -> str:
    return f"gw-{secrets.token_hex(4)}"


class Recorder:
    def __init__(self) -> None:
        self.acks: asyncio.Queue[int] = asyncio.Queue()
        self.states: asyncio.Queue[bool] = asyncio.Queue()

    async def state(self, timeout_s: float = 10.0) -> bool:
        return await asyncio.wait_for(self.states.get(), timeout_s)

    async def ack(self, timeout_s: float = 10.0) -> int:
        return await asyncio.wait_for(self.acks.get(), timeout_s)


def test_publish_is_acked_and_status_is_retained(
    mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    gw = gateway_id()
    settings = MqttSection(host=mqtt_broker.host, port=mqtt_broker.port, topic_root=topic_root)

    async def scenario() -> None:
        uplink = MqttUplink(gw, settings)
        recorder = Recorder()
        with pytest.raises(NotConnectedError):
            uplink.send(1, b"too early")
        assert uplink.publish_status(b'{"state":"online"}') is False  # skipped, not queued
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, f"{topic_root}/#") as probe:
            await uplink.open(recorder.acks.put_nowait, recorder.states.put_nowait)
            try:
                assert await recorder.state() is True
                online = await probe.next_on(status_topic(topic_root, gw))
                assert json.loads(online.payload) == {  # the bare one: no status source given
                    "state": "online",
                    "gw": gw,
                    "time_ms": json.loads(online.payload)["time_ms"],
                }
                uplink.send(41, b'{"first":1}')
                uplink.send(42, b'{"second":2}')
                assert [await recorder.ack(), await recorder.ack()] == [41, 42]
                assert uplink.in_flight == frozenset()
                first = await probe.next_on(telemetry_topic(topic_root, gw))
                second = await probe.next_on(telemetry_topic(topic_root, gw))
                assert (first.payload, second.payload) == (b'{"first":1}', b'{"second":2}')
            finally:
                await uplink.close(timeout_s=5)
            offline = await probe.next_on(status_topic(topic_root, gw))
            assert json.loads(offline.payload) == {
                "state": "offline",
                "gw": gw,
                "time_ms": json.loads(offline.payload)["time_ms"],
            }
        assert uplink.connected is False
        status = f"{topic_root}/{gw}/up/status"
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, status) as late:
            retained = await late.next()
            assert retained.retain
            assert json.loads(retained.payload)["state"] == "offline"

    run(scenario)


def test_last_will_says_offline_when_the_link_dies(
    mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    gw = gateway_id()

    async def scenario() -> None:
        proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)
        await proxy.up()
        settings = MqttSection(host="127.0.0.1", port=proxy.port, topic_root=topic_root)
        uplink = MqttUplink(gw, settings)
        recorder = Recorder()
        topic = status_topic(topic_root, gw)
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe:
            await uplink.open(recorder.acks.put_nowait, recorder.states.put_nowait)
            try:
                assert await recorder.state() is True
                assert json.loads((await probe.next()).payload)["state"] == "online"
                await proxy.down()
                assert await recorder.state() is False
                will = await probe.next()
                assert json.loads(will.payload)["state"] == "offline"
                await proxy.up()
                assert await recorder.state() is True  # paho reconnected with backoff
                assert json.loads((await probe.next()).payload)["state"] == "online"
            finally:
                await uplink.close(timeout_s=5)
                await proxy.close()

    run(scenario)


def test_status_source_is_published_on_connect_and_publish_status_replaces_it(
    mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    gw = gateway_id()
    settings = MqttSection(host=mqtt_broker.host, port=mqtt_broker.port, topic_root=topic_root)
    topic = status_topic(topic_root, gw)

    async def scenario() -> None:
        uplink = MqttUplink(gw, settings)
        recorder = Recorder()
        built: list[bytes] = []

        def source() -> bytes:
            built.append(b'{"state":"online","n":%d}' % len(built))
            return built[-1]

        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe:
            await uplink.open(recorder.acks.put_nowait, recorder.states.put_nowait, source)
            try:
                assert await recorder.state() is True
                assert (await probe.next()).payload == b'{"state":"online","n":0}'
                assert uplink.publish_status(b'{"state":"online","n":99}') is True
                assert (await probe.next()).payload == b'{"state":"online","n":99}'
                async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as late:
                    retained = await late.next()
                    assert (retained.retain, retained.payload) == (
                        True,
                        b'{"state":"online","n":99}',
                    )
            finally:
                await uplink.close(timeout_s=5)
            assert json.loads((await probe.next()).payload)["state"] == "offline"
        assert uplink.publish_status(b'{"state":"online"}') is False  # closed: skipped
        assert built == [b'{"state":"online","n":0}']  # built once, for the one connect

    run(scenario)
