"""Prometheus metrics and batch log lines, from a real pipeline, worker and broker."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import AsyncIterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cloud.embedded.broker import free_port
from cloud.ingest import IngestPipeline, IngestWorker
from cloud.ingest.pipeline import DEAD_LETTERED, DUPLICATE, STORED
from cloud.metrics import REGISTRY, serve_metrics
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from tests.cloud.helpers import make_batch, publisher, telemetry_topic
from tests.fix_broker import BrokerAddress
from wire import sign_batch

pytestmark = pytest.mark.anyio

TOPIC = telemetry_topic("shanshui/v1", "gw-1")


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2) as opened:
        yield opened


def _value(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def _snapshot() -> dict[str, float]:
    return {
        "batches": _value("shanshui_batches_stored_total"),
        "readings": _value("shanshui_readings_stored_total"),
        "duplicates": _value("shanshui_batches_duplicate_total"),
        "bad_signature": _value("shanshui_dead_letters_total", {"reason": "bad_signature"}),
        "writes": _value("shanshui_batch_write_seconds_count"),
    }


async def test_the_pipeline_counts_and_logs_each_batch_with_gateway_and_seq(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    secret = await storage.register_gateway("gw-1")
    before = _snapshot()
    pipeline = IngestPipeline(storage)
    payload = sign_batch(make_batch("gw-1", 7, [1.0, 2.0, 3.0]), secret)
    with caplog.at_level(logging.DEBUG, logger="cloud.ingest.pipeline"):
        assert (await pipeline.handle(TOPIC, payload)).outcome == STORED
        assert (await pipeline.handle(TOPIC, payload)).outcome == DUPLICATE
        forged = sign_batch(make_batch("gw-1", 8), b"x" * 32)
        assert (await pipeline.handle(TOPIC, forged)).outcome == DEAD_LETTERED
    after = _snapshot()
    assert after["batches"] - before["batches"] == 1
    assert after["readings"] - before["readings"] == 3
    assert after["duplicates"] - before["duplicates"] == 1
    assert after["bad_signature"] - before["bad_signature"] == 1
    assert after["writes"] - before["writes"] == 2  # the stored batch and the replay

    lines = [r for r in caplog.records if r.name == "cloud.ingest.pipeline"]
    assert [(getattr(r, "gateway_id", None), getattr(r, "seq", None)) for r in lines] == [
        ("gw-1", 7),
        ("gw-1", 7),
        ("gw-1", 8),
    ]
    assert all(f"gateway=gw-1 seq={r.seq}" in r.getMessage() for r in lines)
    assert secret.hex() not in caplog.text


def test_metrics_are_served_on_their_own_address() -> None:
    port = free_port()
    server, thread = serve_metrics("127.0.0.1", port)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            body = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    families = {family.name for family in text_string_to_metric_families(body)}
    assert {
        "shanshui_batches_stored",
        "shanshui_readings_stored",
        "shanshui_dead_letters",
        "shanshui_batch_write_seconds",
        "shanshui_ingest_queue_depth",
        "shanshui_broker_connected",
    } <= families


async def test_the_worker_reports_its_broker_connection_and_drains_its_queue(
    storage: Storage, mqtt_broker: BrokerAddress, topic_root: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    endpoint = MqttEndpoint(mqtt_broker.host, mqtt_broker.port)
    async with IngestWorker(storage, endpoint, topic_root=topic_root) as worker:
        assert _value("shanshui_broker_connected") == 1
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            for seq in range(1, 6):
                pub.publish(
                    telemetry_topic(topic_root, "gw-1"),
                    sign_batch(make_batch("gw-1", seq), secret),
                )
        await worker.wait_processed(5, 15.0)
        assert _value("shanshui_ingest_queue_depth") == 0
    assert _value("shanshui_broker_connected") == 0
