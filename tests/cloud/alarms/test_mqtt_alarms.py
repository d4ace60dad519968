"""End to end over a real broker: a signed batch -> ingest worker -> commit -> evaluator -> signed
webhook; the evaluator is woken by the commit's notification (no idle() call in between)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from cloud.alarms.notify import Notifier, WebhookSender
from cloud.alarms.worker import AlarmWorker
from cloud.ingest import IngestWorker
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from cloud.storage.alarm_contacts import NewContact, add_contact
from tests.cloud.alarms.live_helpers import receiving, rules, station
from tests.cloud.helpers import make_batch, now_ms, publisher, telemetry_topic
from tests.fix_broker import BrokerAddress
from wire import sign_batch

pytestmark = pytest.mark.anyio


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=4) as opened:
        await station(opened)
        yield opened


async def test_an_offending_reading_reaches_the_webhook_once(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    await rules(storage, {"id": "hot", "kind": "threshold", "above": 40.0, "clear": 38.0,
                          "scope": {"quantities": ["air_temperature"]}})  # fmt: skip
    secret = await storage.rotate_secret("gw-1")
    topic = telemetry_topic(topic_root, "gw-1")
    with receiving() as receiver:
        contact, hook_secret = await add_contact(
            storage, NewContact("env", "ops", "webhook", receiver.url)
        )
        receiver.secret = hook_secret
        notifier = Notifier(storage, {"webhook": WebhookSender()})
        engine = AlarmWorker(storage, notify=notifier, poll_s=3600)
        await engine.start()
        await engine.wait_active()
        endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
        async with IngestWorker(storage, endpoint, topic_root=topic_root) as worker:
            with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
                pub.publish(topic, sign_batch(make_batch("gw-1", 1, [41.0, 42.0]), secret))
                pub.publish(topic, sign_batch(make_batch("gw-1", 1, [41.0, 42.0]), secret))
                [opened] = await receiver.wait_for(1)
                pub.publish(
                    topic,
                    sign_batch(make_batch("gw-1", 2, [37.0], start_ms=now_ms() + 5000), secret),
                )
                await receiver.wait_for(2)
            await worker.wait_processed(3)
            await engine.idle()
            await notifier.idle()
        await engine.stop()
    assert json.loads(opened)["kind"] == "open"
    assert [json.loads(b)["kind"] for b in receiver.bodies] == ["open", "resolve"]
    assert receiver.bad_signatures == 0
    assert contact.id > 0
