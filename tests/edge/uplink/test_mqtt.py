"""MqttUplink against a real broker: signed batches, verified acks, retained status, last will."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import MqttSection
from edge.errors import NotConnectedError
from edge.uplink.mqtt import MAX_IN_FLIGHT, MqttUplink
from edge.uplink.mqtt_topics import ack_topic, status_topic, telemetry_topic
from tests.edge.support import SECRET, MqttProbe, TcpProxy, status_of
from tests.fix_broker import BrokerAddress
from wire import Batch, encode_batch, open_envelope, verify_envelope
from wire.ack import Ack, sign_ack
from wire.signing import verify_object


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def gateway_id() -> str:
    return f"gw-{secrets.token_hex(4)}"


class Recorder:
    def __init__(self) -> None:
        self.settled: asyncio.Queue[Ack] = asyncio.Queue()
        self.states: asyncio.Queue[bool] = asyncio.Queue()

    async def state(self, timeout_s: float = 10.0) -> bool:
        return await asyncio.wait_for(self.states.get(), timeout_s)

    async def ack(self, timeout_s: float = 10.0) -> Ack:
        return await asyncio.wait_for(self.settled.get(), timeout_s)


def publish(broker: BrokerAddress, *messages: tuple[str, bytes]) -> None:
    """Publish in order from one client, each confirmed by the broker before the next."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        for topic, payload in messages:
            client.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    finally:
        client.disconnect()
        client.loop_stop()


def test_batches_are_signed_when_sent_and_settled_only_by_a_verified_ack(
    mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    gw = gateway_id()
    settings = MqttSection(host=mqtt_broker.host, port=mqtt_broker.port, topic_root=topic_root)

    async def scenario() -> None:
        uplink = MqttUplink(gw, settings, secret=lambda: SECRET)
        recorder = Recorder()
        with pytest.raises(NotConnectedError):
            uplink.send(1, b"too early")
        assert uplink.room() == 0
        assert uplink.publish_status(b'{"state":"online"}') is False  # skipped, not queued
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, f"{topic_root}/#") as probe:
            await uplink.open(recorder.settled.put_nowait, recorder.states.put_nowait)
            try:
                assert await recorder.state() is True
                online = await probe.next_on(status_topic(topic_root, gw))
                assert status_of(online.payload) == {  # the bare one: no status source given
                    "state": "online",
                    "gw": gw,
                    "time_ms": status_of(online.payload)["time_ms"],
                }
                bodies = [encode_batch(Batch(gw, seq, ())) for seq in (41, 42)]
                assert uplink.send(41, bodies[0]) > len(bodies[0])
                uplink.send(42, bodies[1])
                first = await probe.next_on(telemetry_topic(topic_root, gw))
                second = await probe.next_on(telemetry_topic(topic_root, gw))
                sent = [verify_envelope(open_envelope(m.payload), SECRET) for m in (first, second)]
                assert [b.seq for b in sent] == [41, 42]
                while uplink.in_flight:  # the PUBACKs free the window ...
                    await recorder.state()
                assert uplink.room() == MAX_IN_FLIGHT
                assert recorder.settled.empty()  # ... and settle nothing
                forged = sign_ack(Ack(gw, (41, 42)), b"not the gateway secret")
                genuine = sign_ack(Ack(gw, (41,)), SECRET)
                topic = ack_topic(topic_root, gw)
                await asyncio.to_thread(publish, mqtt_broker, (topic, forged), (topic, genuine))
                assert await recorder.ack() == Ack(gw, (41,))
                assert uplink.forged == 1
            finally:
                await uplink.close(timeout_s=5)
            offline = await probe.next_on(status_topic(topic_root, gw))
            assert status_of(offline.payload) == {
                "state": "offline",
                "gw": gw,
                "time_ms": status_of(offline.payload)["time_ms"],
            }
        assert uplink.connected is False
        status = f"{topic_root}/{gw}/up/status"
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, status) as late:
            retained = await late.next()
            assert retained.retain
            assert status_of(retained.payload)["state"] == "offline"

    run(scenario)


def test_last_will_says_offline_when_the_link_dies(
    mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    gw = gateway_id()

    async def scenario() -> None:
        proxy = TcpProxy(mqtt_broker.host, mqtt_broker.port)
        await proxy.up()
        settings = MqttSection(host="127.0.0.1", port=proxy.port, topic_root=topic_root)
        uplink = MqttUplink(gw, settings, secret=lambda: SECRET)
        recorder = Recorder()
        topic = status_topic(topic_root, gw)
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe:
            await uplink.open(recorder.settled.put_nowait, recorder.states.put_nowait)
            try:
                assert await recorder.state() is True
                assert status_of((await probe.next()).payload)["state"] == "online"
                await proxy.down()
                assert await recorder.state() is False
                will = await probe.next()
                assert status_of(will.payload)["state"] == "offline"
                await proxy.up()
                assert await recorder.state() is True  # paho reconnected with backoff
                assert status_of((await probe.next()).payload)["state"] == "online"
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
        uplink = MqttUplink(gw, settings, secret=lambda: SECRET)
        recorder = Recorder()
        built: list[bytes] = []

        def source() -> bytes:
            built.append(b'{"state":"online","n":%d}' % len(built))
            return built[-1]

        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe:
            await uplink.open(recorder.settled.put_nowait, recorder.states.put_nowait, source)
            try:
                assert await recorder.state() is True
                assert (
                    verify_object((await probe.next()).payload, SECRET)
                    == b'{"state":"online","n":0}'
                )
                assert uplink.publish_status(b'{"state":"online","n":99}') is True
                assert (
                    verify_object((await probe.next()).payload, SECRET)
                    == b'{"state":"online","n":99}'
                )
                async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as late:
                    retained = await late.next()
                    assert retained.retain
                    assert verify_object(retained.payload, SECRET) == b'{"state":"online","n":99}'
            finally:
                await uplink.close(timeout_s=5)
            assert status_of((await probe.next()).payload)["state"] == "offline"
        assert uplink.publish_status(b'{"state":"online"}') is False  # closed: skipped
        assert built == [b'{"state":"online","n":0}']  # built once, for the one connect

    run(scenario)
