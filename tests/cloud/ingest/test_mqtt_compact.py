"""Compact frames on ``up/compact`` (hex text from a module's MQTT client) through the worker."""

from __future__ import annotations

import queue
from collections.abc import AsyncIterator, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

import cloud.ingest.retrying
from cloud.errors import StorageUnavailableError
from cloud.ingest import IngestWorker
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from cloud.storage.registry import GatewayKeys
from tests.cloud.helpers import all_readings, make_batch, now_ms, publisher
from tests.fix_broker import BrokerAddress
from wire.compact import Channel, decode_compact_ack, encode_compact
from wire.compact_status import CompactStatus, encode_compact_status

pytestmark = pytest.mark.anyio

WAIT_S = 15.0
TABLE = (Channel("th1", "air_temperature", 1),)


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


@pytest.fixture
def acks(mqtt_broker: BrokerAddress, topic_root: str) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """Everything published on any gateway's ``down/compact-ack``."""
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_connect = lambda c, *_: c.subscribe(f"{topic_root}/+/down/compact-ack", 1)
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.on_message = lambda _c, _u, m: received.put((m.topic, bytes(m.payload)))
    client.connect(mqtt_broker.host, mqtt_broker.port)
    client.loop_start()
    assert subscribed.get(timeout=WAIT_S)
    yield received
    client.disconnect()
    client.loop_stop()


def _hex(frame: bytes) -> bytes:
    return frame.hex().upper().encode()


async def test_a_frame_is_stored_once_and_acknowledged_in_hex_after_the_commit(
    storage: Storage,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    acks: queue.Queue[tuple[str, bytes]],
) -> None:
    secret = await storage.register_gateway("gw-nb")
    frame = encode_compact(make_batch("gw-nb", 5, [20.5, 21.0]), TABLE, secret)
    topic = f"{topic_root}/gw-nb/up/compact"
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
    async with IngestWorker(
        storage, endpoint, topic_root=topic_root, channel_tables={"gw-nb": TABLE}
    ) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            pub.publish(topic, _hex(frame))
            pub.publish(topic, _hex(frame))  # the module's re-send
        stats = await worker.wait_processed(2, WAIT_S)
    assert (stats.accepted, stats.duplicate, stats.dead_lettered) == (1, 1, 0)
    assert stats.acks_published == 0  # no JSON down/ack for a compact frame
    for _ in range(2):
        ack_topic, payload = acks.get(timeout=WAIT_S)
        assert ack_topic == f"{topic_root}/gw-nb/down/compact-ack"
        ack = decode_compact_ack(bytes.fromhex(payload.decode()), secret)
        assert (ack.gateway_id, ack.seq, ack.refused) == ("gw-nb", 5, False)
    series = await all_readings(storage, "gw-nb")
    assert [r.value for r in series.readings] == [20.5, 21.0]


async def test_bad_compact_messages_are_dead_lettered_and_get_no_ack(
    storage: Storage,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    acks: queue.Queue[tuple[str, bytes]],
) -> None:
    secret = await storage.register_gateway("gw-nb")
    await storage.register_gateway("gw-other")
    good = encode_compact(make_batch("gw-nb", 1, [20.5]), TABLE, secret)
    messages = [
        ("gw-nb", b"\x01\x02 binary, not hex", "malformed"),
        ("gw-other", _hex(good), "topic_mismatch"),  # a frame of gw-nb on gw-other's topic
        ("gw-nb", _hex(encode_compact(make_batch("gw-nb", 2), TABLE, b"x" * 32)), "bad_signature"),
        ("gw-other", _hex(encode_compact(make_batch("gw-other", 1), TABLE, secret)), None),
    ]
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
    async with IngestWorker(
        storage, endpoint, topic_root=topic_root, channel_tables={"gw-nb": TABLE}
    ) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            for gateway, payload, _ in messages:
                pub.publish(f"{topic_root}/{gateway}/up/compact", payload)
        stats = await worker.wait_processed(len(messages), WAIT_S)
    assert stats.dead_lettered == len(messages)
    letters = await storage.list_dead_letters(limit=10)
    reasons = [d.reason for d in reversed(letters)]
    assert reasons == ["malformed", "topic_mismatch", "bad_signature", "no_channel_table"]
    assert acks.empty()


class _KeysDown(Storage):
    """The first ``failures`` key lookups fail as an unreachable database does."""

    def __init__(self, conninfo: str, failures: int) -> None:
        super().__init__(conninfo, max_size=1)
        self.failures = failures

    async def gateway_keys(self, gateway_id: str) -> GatewayKeys | None:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailableError("database restarting")
        return await super().gateway_keys(gateway_id)


async def test_a_database_outage_holds_the_frame_until_it_is_stored(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    acks: queue.Queue[tuple[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cloud.ingest.retrying, "RETRY_FIRST_S", 0.01)
    async with _KeysDown(migrated_database_url, failures=3) as flaky:
        secret = await flaky.register_gateway("gw-nb")
        frame = encode_compact(make_batch("gw-nb", 1, [20.5]), TABLE, secret)
        endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
        async with IngestWorker(
            flaky, endpoint, topic_root=topic_root, channel_tables={"gw-nb": TABLE}
        ) as worker:
            with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
                pub.publish(f"{topic_root}/gw-nb/up/compact", _hex(frame))
            stats = await worker.wait_processed(1, WAIT_S)
        assert (stats.accepted, stats.dead_lettered, flaky.failures) == (1, 0, 0)
    ack_topic, _ = acks.get(timeout=WAIT_S)
    assert ack_topic.endswith("/gw-nb/down/compact-ack")


async def test_a_status_frame_records_presence_and_its_report_and_is_not_acknowledged(
    storage: Storage,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    acks: queue.Queue[tuple[str, bytes]],
) -> None:
    secret = await storage.register_gateway("gw-nb")
    status = CompactStatus(
        "gw-nb",
        now_ms(),
        devices={"th1": "degraded"},
        counters={"pending_readings": 3, "uptime_s": 60},
        oldest_unsent_age_s=5,
        clock_synced=True,
        signal={"csq": 14, "rssi_dbm": -85},
    )
    topic = f"{topic_root}/gw-nb/up/compact"
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
    async with IngestWorker(
        storage, endpoint, topic_root=topic_root, channel_tables={"gw-nb": TABLE}
    ) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            pub.publish(topic, _hex(encode_compact_status(status, TABLE, bytes(32))))  # forged
            pub.publish(topic, _hex(encode_compact_status(status, TABLE, secret)))
        stats = await worker.wait_processed(2, WAIT_S)
    assert (stats.presence_updates, stats.dead_lettered, stats.accepted) == (1, 1, 0)
    (gateway,) = [g for g in await storage.list_gateways() if g.id == "gw-nb"]
    assert gateway.presence == "online"
    assert gateway.status_report == {
        "pending_readings": 3,
        "unacked_batches": 0,
        "quarantined_batches": 0,
        "resent_batches": 0,
        "thinned_readings": 0,
        "oldest_unsent_age_s": 5,
        "uptime_s": 60,
        "forged_acks": 0,
        "clock_synced": True,
        "signal_csq": 14,
        "signal_rssi_dbm": -85,
    }
    (device,) = await storage.gateway_devices("gw-nb")
    assert (device.name, device.health) == ("th1", "degraded")
    assert acks.empty()  # a status is recorded, never acknowledged
