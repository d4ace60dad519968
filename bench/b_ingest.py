"""Cloud ingest: readings/s stored by Storage.store_batch, and through MQTT -> worker -> DB."""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.embedded.broker import EmbeddedBroker
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.ingest import IngestWorker
from cloud.migrate import migrate
from cloud.settings import parse_mqtt_url
from cloud.storage import Storage
from cloud.storage.admin import ensure_database
from wire import Batch, Quality, Reading, sign_batch

BATCH_READINGS = 500
DIRECT_BATCHES = 200
MQTT_BATCHES = 200
DEVICES = 20
QUANTITIES = ("air_temperature", "relative_humidity", "pm2_5", "pm10", "so2")
START_MS = 1_790_000_000_000


def _batches(gateway: str, count: int, first_seq: int, start_ms: int) -> list[Batch]:
    """``count`` batches of 500 readings over 20 devices x 5 quantities, 1 s apart."""
    rng = random.Random(first_seq)
    batches = []
    t = start_ms
    for seq in range(first_seq, first_seq + count):
        readings = []
        while len(readings) < BATCH_READINGS:
            for device in range(DEVICES):
                for quantity in QUANTITIES:
                    value = round(rng.uniform(0, 80), 1)
                    readings.append(Reading(f"d{device}", quantity, t, value, Quality.NORMAL))
            t += 1000
        batches.append(Batch(gateway, seq, tuple(readings[:BATCH_READINGS])))
    return batches


async def _direct(storage: Storage) -> None:
    await storage.register_gateway("bench-direct")
    batches = _batches("bench-direct", DIRECT_BATCHES, 1, START_MS)
    start = time.perf_counter()
    for batch in batches:
        await storage.store_batch(batch, "bench")
    elapsed = time.perf_counter() - start
    total = DIRECT_BATCHES * BATCH_READINGS
    print(
        f"  store_batch, one connection: {DIRECT_BATCHES} batches x {BATCH_READINGS} readings "
        f"in {elapsed:.2f} s = {total / elapsed:,.0f} readings/s "
        f"({elapsed / DIRECT_BATCHES * 1000:.1f} ms/batch)"
    )
    start = time.perf_counter()
    for batch in batches[:50]:
        await storage.store_batch(batch, "bench")
    replay = (time.perf_counter() - start) / 50
    print(f"  replayed batch (dedupe on gateway+seq): {replay * 1000:.2f} ms/batch")


async def _through_mqtt(storage: Storage, broker: EmbeddedBroker) -> None:
    secret = await storage.register_gateway("bench-mqtt")
    payloads = [
        sign_batch(b, secret) for b in _batches("bench-mqtt", MQTT_BATCHES, 1, START_MS + 10**9)
    ]
    topic = "shanshui/v1/bench-mqtt/up/telemetry"
    endpoint = parse_mqtt_url(broker.url)
    async with IngestWorker(storage, endpoint) as worker:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.max_inflight_messages_set(100)
        client.connect(broker.host, broker.port)
        client.loop_start()
        start = time.perf_counter()
        for payload in payloads:
            client.publish(topic, payload, qos=1)
        stats = await worker.wait_processed(MQTT_BATCHES, timeout_s=300)
        elapsed = time.perf_counter() - start
        client.loop_stop()
        client.disconnect()
    total = stats.readings_stored
    print(
        f"  MQTT -> one ingest worker -> PostgreSQL: {MQTT_BATCHES} signed batches "
        f"({len(payloads[0]) // 1024} KiB each) in {elapsed:.2f} s = "
        f"{MQTT_BATCHES / elapsed:,.0f} batches/s, {total / elapsed:,.0f} readings/s "
        f"(dead-lettered: {stats.dead_lettered})"
    )


def run() -> None:
    """Start an embedded PostgreSQL and broker in a temp dir, measure, stop them."""
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
        EmbeddedBroker(port=0) as broker,
    ):
        url = ensure_database(server.url(), "bench")
        migrate(url)

        async def main() -> None:
            async with Storage(url) as storage:
                await _direct(storage)
                await _through_mqtt(storage, broker)

        asyncio.run(main())
