"""The ingest worker against a real broker and a real, migrated PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

import pytest

import cloud.ingest.retrying
from cloud.embedded.broker import EmbeddedBroker, free_port
from cloud.errors import IngestError, StorageUnavailableError
from cloud.ingest import IngestWorker
from cloud.settings import MqttEndpoint
from cloud.storage import Storage, StoreResult
from cloud.storage.ingest import BatchToStore, Refusal
from tests.cloud.helpers import all_readings, make_batch, publisher, telemetry_topic
from tests.fix_broker import BrokerAddress
from wire import encode_batch, sign_batch
from wire.signing import sign_object

pytestmark = pytest.mark.anyio

WAIT_S = 15.0


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


def _endpoint(broker: BrokerAddress) -> MqttEndpoint:
    return MqttEndpoint(broker.host, broker.port)


def _tampered(payload: bytes) -> bytes:
    envelope = json.loads(payload)
    body = json.loads(envelope["body"])
    body["r"][0][3] = 99.9  # the value changes after signing
    envelope["body"] = json.dumps(body, separators=(",", ":"))
    return json.dumps(envelope).encode()


async def test_bad_messages_are_dead_lettered_and_ingest_goes_on(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    topic = telemetry_topic(topic_root, "gw-1")
    good = make_batch("gw-1", 2, [21.0, 21.5])
    bad_messages = [
        (topic, _tampered(sign_batch(make_batch("gw-1", 1), secret)), "bad_signature"),
        (topic, encode_batch(make_batch("gw-1", 1)), "unsigned"),
        (
            telemetry_topic(topic_root, "gw-ghost"),
            sign_batch(make_batch("gw-ghost", 1), b"g" * 32),
            "unknown_gateway",
        ),
        (topic, b"\x00 not json at all", "malformed"),
        (topic, sign_batch(make_batch("gw-other", 1), secret), "topic_mismatch"),
        (
            topic,
            sign_batch(make_batch("gw-1", 1, quantity="flux_capacitance"), secret),
            "unknown_quantity",
        ),
        # the good batch's seq, with other readings: sent after it below
        (topic, sign_batch(make_batch("gw-1", 2, [99.0]), secret), "seq_reused"),
    ]

    async with IngestWorker(storage, _endpoint(mqtt_broker), topic_root=topic_root) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            for message_topic, payload, _ in bad_messages[:-1]:
                pub.publish(message_topic, payload)
            pub.publish(topic, sign_batch(good, secret))
            reused_topic, reused_payload, _ = bad_messages[-1]
            pub.publish(reused_topic, reused_payload)
        stats = await worker.wait_processed(len(bad_messages) + 1, WAIT_S)

    assert (stats.accepted, stats.duplicate, stats.dead_lettered) == (1, 0, len(bad_messages))
    letters = await storage.list_dead_letters(limit=20)
    assert [d.reason for d in reversed(letters)] == [reason for *_, reason in bad_messages]
    assert [d.payload for d in reversed(letters)] == [payload for _, payload, _ in bad_messages]
    assert {d.source for d in letters} <= {topic, telemetry_topic(topic_root, "gw-ghost")}
    series = await all_readings(storage, "gw-1")
    assert [r.value for r in series.readings] == [21.0, 21.5]


async def test_a_replayed_batch_is_stored_once(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    topic = telemetry_topic(topic_root, "gw-1")
    first = sign_batch(make_batch("gw-1", 1, [20.0, 20.5]), secret)

    async with IngestWorker(storage, _endpoint(mqtt_broker), topic_root=topic_root) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            pub.publish(topic, first)
            pub.publish(topic, first)
        stats = await worker.wait_processed(2, WAIT_S)

    assert (stats.accepted, stats.duplicate, stats.dead_lettered) == (1, 1, 0)
    assert stats.readings_stored == 2
    series = await all_readings(storage, "gw-1")
    assert len(series.readings) == 2


async def test_a_disabled_gateway_is_refused(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    await storage.set_gateway_disabled("gw-1")

    async with IngestWorker(storage, _endpoint(mqtt_broker), topic_root=topic_root) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            pub.publish(
                telemetry_topic(topic_root, "gw-1"), sign_batch(make_batch("gw-1", 1), secret)
            )
        await worker.wait_processed(1, WAIT_S)

    (letter,) = await storage.list_dead_letters()
    assert (letter.reason, letter.gateway_id) == ("unknown_gateway", "gw-1")


async def test_presence_is_recorded_and_other_channels_dead_lettered(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    status = f"{topic_root}/gw-1/up/status"
    messages = [
        (
            status,
            sign_object(
                b'{"state":"online","gw":"gw-1","time_ms":1790000000000,"devices":'
                b'{"th1":{"state":"ok"},"th2":{"state":"degraded","error":"no answer"}},'
                b'"outbox":{"pending_readings":40,"unacked_batches":2,"quarantined_batches":1,'
                b'"resent_batches":0,"thinned_readings":5,"oldest_unsent_age_s":610},'
                b'"uptime_s":86400,"clock_synced":true,"forged_acks":0,'
                b'"config_version":"v7","signal":{"csq":14,"rssi_dbm":-85}}',
                secret,
            ),
        ),
        (status, b'{"state":"online","devices":{"fake":{"state":"ok"}}}'),  # unsigned
        (status, sign_object(b'{"state":"online","devices":{"fake":{"state":"ok"}}}', b"x" * 32)),
        (status, sign_object(b'{"state":"offline"}', secret)),
        (f"{topic_root}/gw-ghost/up/status", b'{"state":"online"}'),
        (status, sign_object(b'{"not":"a status"}', secret)),
        (f"{topic_root}/gw-1/up/event", b'{"kind":"door_open"}'),
    ]

    async with IngestWorker(storage, _endpoint(mqtt_broker), topic_root=topic_root) as worker:
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            for topic, payload in messages:
                pub.publish(topic, payload)
        stats = await worker.wait_processed(len(messages), WAIT_S)

    assert (stats.presence_updates, stats.dead_lettered, stats.ignored_status) == (2, 3, 2)
    devices = await storage.gateway_devices("gw-1")
    assert [(d.name, d.health, d.health_error) for d in devices] == [
        ("th1", "ok", None),
        ("th2", "degraded", "no answer"),  # known before it sent a reading; no "fake"
    ]
    (gateway,) = await storage.list_gateways()
    assert (gateway.id, gateway.presence) == ("gw-1", "offline")  # the last word counts
    assert gateway.presence_at is not None
    assert gateway.status_report == {  # as last reported online; offline keeps it
        "pending_readings": 40,
        "unacked_batches": 2,
        "quarantined_batches": 1,
        "resent_batches": 0,
        "thinned_readings": 5,
        "oldest_unsent_age_s": 610,
        "uptime_s": 86400,
        "clock_synced": True,
        "forged_acks": 0,
        "config_version": "v7",
        "signal_csq": 14,
        "signal_rssi_dbm": -85,
    }
    letters = await storage.list_dead_letters()
    assert [(d.reason, d.gateway_id) for d in reversed(letters)] == [
        ("unknown_gateway", "gw-ghost"),
        ("malformed", "gw-1"),
        ("unsupported_topic", "gw-1"),
    ]


class _StallingStorage(Storage):
    """Hangs inside store_batch, as a worker does that dies before its commit."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(conninfo, max_size=1)
        self.entered = asyncio.Event()

    async def store_batches(self, items: Sequence[BatchToStore]) -> list[StoreResult | Refusal]:
        self.entered.set()
        await asyncio.Event().wait()  # never set: the worker is stopped while in here
        raise AssertionError("unreachable")


async def test_a_message_unfinished_when_the_worker_stops_is_delivered_again(
    storage: Storage,
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
) -> None:
    if mqtt_broker.kind == "rumqttd":
        pytest.skip("rumqttd 0.20 panics when a persistent session with a shared subscription ends")
    secret = await storage.register_gateway("gw-1")
    client_id = f"ingest-{topic_root.split('/')[1]}"[:60]
    endpoint = _endpoint(mqtt_broker)

    async with _StallingStorage(migrated_database_url) as stalling:
        first = IngestWorker(stalling, endpoint, topic_root=topic_root, client_id=client_id)
        await first.start()
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            pub.publish(
                telemetry_topic(topic_root, "gw-1"), sign_batch(make_batch("gw-1", 1), secret)
            )
        async with asyncio.timeout(WAIT_S):
            await stalling.entered.wait()
        await first.stop(drain_timeout_s=0)  # dies before the commit: no PUBACK was sent
    assert first.stats.processed == 0

    # The same client id resumes the persistent session: the broker redelivers.
    second = IngestWorker(storage, endpoint, topic_root=topic_root, client_id=client_id)
    async with second:
        stats = await second.wait_processed(1, WAIT_S)
    assert stats.accepted == 1
    series = await all_readings(storage, "gw-1")
    assert len(series.readings) == 1


class _FlakyStorage(Storage):
    """Fails the first ``failures`` store_batch calls as an unreachable database does."""

    def __init__(self, conninfo: str, failures: int) -> None:
        super().__init__(conninfo, max_size=1)
        self.failures = failures

    async def store_batches(self, items: Sequence[BatchToStore]) -> list[StoreResult | Refusal]:
        if self.failures > 0:
            self.failures -= 1
            raise StorageUnavailableError("database restarting")
        return await super().store_batches(items)


async def test_a_database_outage_holds_the_message_until_it_is_stored(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cloud.ingest.retrying, "RETRY_FIRST_S", 0.01)
    async with _FlakyStorage(migrated_database_url, failures=3) as flaky:
        secret = await flaky.register_gateway("gw-1")
        async with IngestWorker(flaky, _endpoint(mqtt_broker), topic_root=topic_root) as worker:
            with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
                pub.publish(
                    telemetry_topic(topic_root, "gw-1"), sign_batch(make_batch("gw-1", 1), secret)
                )
            stats = await worker.wait_processed(1, WAIT_S)
        assert (stats.accepted, stats.dead_lettered, flaky.failures) == (1, 0, 0)
        assert await flaky.list_dead_letters() == []


async def test_start_fails_clearly_without_a_broker(storage: Storage) -> None:
    worker = IngestWorker(storage, MqttEndpoint("127.0.0.1", free_port()))
    with pytest.raises(IngestError, match="could not subscribe"):
        await worker.start(timeout_s=1)
    assert not worker.stats.connected


async def test_works_with_the_embedded_rumqttd_broker(storage: Storage, topic_root: str) -> None:
    secret = await storage.register_gateway("gw-1")
    with EmbeddedBroker(port=0) as broker:
        endpoint = MqttEndpoint(broker.host, broker.port)
        async with IngestWorker(storage, endpoint, topic_root=topic_root) as worker:
            with publisher(broker.host, broker.port) as pub:
                pub.publish(
                    telemetry_topic(topic_root, "gw-1"), sign_batch(make_batch("gw-1", 1), secret)
                )
                pub.publish(telemetry_topic(topic_root, "gw-1"), b"junk")
            stats = await worker.wait_processed(2, WAIT_S)
    assert (stats.accepted, stats.dead_lettered) == (1, 1)


async def test_the_worker_reconnects_after_losing_the_broker(
    storage: Storage, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    port = free_port()
    topic = telemetry_topic(topic_root, "gw-1")
    broker = EmbeddedBroker(port=port).start()
    try:
        endpoint = MqttEndpoint(broker.host, port)
        async with IngestWorker(storage, endpoint, topic_root=topic_root) as worker:
            broker.stop()
            await worker.wait_until(lambda stats: not stats.connected, WAIT_S)
            broker = EmbeddedBroker(port=port).start()
            stats = await worker.wait_until(lambda stats: stats.subscriptions >= 2, WAIT_S)
            assert stats.connected
            with publisher(broker.host, port) as pub:
                pub.publish(topic, sign_batch(make_batch("gw-1", 1), secret))
            stats = await worker.wait_processed(1, WAIT_S)
    finally:
        broker.stop()
    assert stats.accepted == 1


async def test_stop_finishes_the_messages_already_received(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    worker = IngestWorker(storage, _endpoint(mqtt_broker), topic_root=topic_root)
    await worker.start()
    with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
        for seq in range(1, 6):
            batch = make_batch("gw-1", seq, [20.0], start_ms=1_780_000_000_000 + seq * 1000)
            pub.publish(telemetry_topic(topic_root, "gw-1"), sign_batch(batch, secret))
    await worker.stop()
    assert worker.stats.accepted == 5
    assert len((await all_readings(storage, "gw-1")).readings) == 5
