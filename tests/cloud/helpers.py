"""Builders shared by the cloud tests: batches, signed payloads, an MQTT publisher."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from cloud.storage import SeriesReadings, Storage
from wire import Batch, Quality, Reading

PUBLISH_TIMEOUT_S = 5.0
EVER = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def now_ms() -> int:
    """The current time in epoch milliseconds, rounded down to a whole second."""
    return int(time.time()) * 1000


def make_batch(
    gateway_id: str,
    seq: int,
    values: Sequence[float] = (21.5,),
    *,
    device: str = "th1",
    quantity: str = "air_temperature",
    start_ms: int | None = None,
    step_ms: int = 1000,
    quality: Quality = Quality.NORMAL,
) -> Batch:
    """A batch of readings of one series, ``step_ms`` apart from ``start_ms`` (default: now)."""
    first = now_ms() if start_ms is None else start_ms
    readings = tuple(
        Reading(device, quantity, first + i * step_ms, value, quality)
        for i, value in enumerate(values)
    )
    return Batch(gateway_id, seq, readings)


def telemetry_topic(topic_root: str, gateway_id: str) -> str:
    """``{root}/{gw}/up/telemetry``."""
    return f"{topic_root}/{gateway_id}/up/telemetry"


class Publisher:
    """A QoS 1 publisher that returns once the broker acknowledged each message."""

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client

    def publish(self, topic: str, payload: bytes) -> None:
        """Publish and wait for the PUBACK."""
        info = self._client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=PUBLISH_TIMEOUT_S)
        assert info.is_published(), f"no PUBACK for {topic}"


@contextmanager
def publisher(host: str, port: int) -> Iterator[Publisher]:
    """A connected :class:`Publisher`, disconnected afterwards."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect(host, port)
    client.loop_start()
    try:
        yield Publisher(client)
    finally:
        client.disconnect()
        client.loop_stop()


async def all_readings(
    storage: Storage, gateway_id: str, device: str = "th1", quantity: str = "air_temperature"
) -> SeriesReadings:
    """Every reading of one series, whenever it was taken."""
    start, end = EVER
    return await storage.readings(gateway_id, device, quantity, start=start, end=end)
