"""Delivery with ack after commit: append rate, bytes per reading, backlog drain to a local cloud.

The drain runs the edge side (outbox + publisher + MQTT uplink) in a child
process, so its peak RSS is the gateway's alone; the parent runs an embedded
broker (rumqttd), an embedded PostgreSQL and one ingest worker that acknowledges
after each commit. ``SHANSHUI_BENCH_BACKLOG`` sets the backlog (default 1,000,000
readings).
"""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cloud.embedded.broker import EmbeddedBroker
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.ingest import IngestWorker
from cloud.migrate import migrate
from cloud.settings import parse_mqtt_url
from cloud.storage import Storage
from cloud.storage.admin import ensure_database
from edge.config import MqttSection, PublishSection
from edge.outbox import OutboxRunner, OutboxStore
from edge.publisher import Publisher
from edge.uplink.mqtt import MqttUplink
from wire import Quality, Reading

GATEWAY = "bench-drain"
START_MS = 1_790_000_000_000
CYCLE = 20  # readings per poll cycle: 10 sensors x 2 points
# catch-up settings: large batches (rumqttd embedded takes up to 1 MiB messages)
DRAIN = PublishSection(max_batch_readings=2000, max_payload_bytes=256 * 1024, max_delay_s=0.05)


def _readings(start: int, count: int) -> list[Reading]:
    return [
        Reading(
            f"d{i % 10}",
            "air_temperature" if i % 20 < 10 else "relative_humidity",
            START_MS + (start + i) // 20 * 1000,
            20.0 + (start + i) % 7,
            Quality.NORMAL,
        )
        for i in range(count)
    ]


def _fill(data_dir: Path, total: int) -> tuple[float, float]:
    """Append ``total`` readings in poll cycles; return readings/s and bytes per reading."""
    store = OutboxStore.open(data_dir)
    try:
        for offset in range(0, total, 5000):  # big transactions: the backlog, quickly
            store.enqueue(_readings(offset, min(5000, total - offset)))
        per_cycle_start = time.perf_counter()
        cycles = 200
        for c in range(cycles):
            store.enqueue(_readings(total + c * CYCLE, CYCLE))
        cycle_s = (time.perf_counter() - per_cycle_start) / cycles
        size = store.size_bytes()
        count = store.counts().pending_readings
    finally:
        store.close()
    return CYCLE / cycle_s, size / count


async def _drain_child(data_dir: Path, port: int, secret: bytes) -> None:
    outbox = OutboxRunner(data_dir)
    done = asyncio.Event()
    uplink = MqttUplink(GATEWAY, MqttSection(port=port), secret=lambda: secret)
    publisher = Publisher(
        outbox,
        uplink,
        gateway_id=GATEWAY,
        secret=lambda: secret,
        publish=DRAIN,
        on_change=lambda: (
            done.set()
            if not publisher.view.pending_readings and not publisher.view.unacked_batches
            else None
        ),
    )
    await outbox.open()
    await publisher.load()
    start = time.perf_counter()
    await uplink.open(publisher.on_settled, publisher.on_state)
    task = asyncio.create_task(publisher.run())
    await done.wait()
    elapsed = time.perf_counter() - start
    publisher.request_stop(0)
    await task
    await uplink.close(2)
    await outbox.close()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{elapsed:.3f} {publisher.view.acked_batches} {peak_kib}")


def _drain(data_dir: Path, port: int, secret: bytes) -> tuple[float, int, float]:
    """Run the edge side in a child; return seconds, batches settled, child peak RSS in MiB."""
    child = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.b_delivery", str(data_dir), str(port), secret.hex()],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed, batches, peak_kib = child.stdout.split()
    return float(elapsed), int(batches), int(peak_kib) / 1024


def run() -> None:
    """Print append rate, bytes per reading, drain time and peak RSS, acks per batch."""
    total = int(os.environ.get("SHANSHUI_BENCH_BACKLOG", "1000000"))
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-delivery-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
        EmbeddedBroker(port=0) as broker,
    ):
        data_dir = Path(tmp) / "edge"
        append_rate, per_reading = _fill(data_dir, total)
        print(f"  append: {append_rate:,.0f} readings/s in poll cycles of {CYCLE} readings")
        print(f"  on disk: {per_reading:.0f} bytes per waiting reading (SQLite pages in use)")
        url = ensure_database(server.url(), "bench")
        migrate(url)

        async def main() -> None:
            async with Storage(url, plaintext_secrets=True) as storage:
                secret = await storage.register_gateway(GATEWAY)
                async with IngestWorker(storage, parse_mqtt_url(broker.url)) as worker:
                    seconds, batches, rss_mib = await asyncio.to_thread(
                        _drain, data_dir, broker.port, secret
                    )
                    stats = worker.stats
            readings = stats.readings_stored
            print(
                f"  drain a {total + 200 * CYCLE:,}-reading backlog to a local broker, ack after "
                f"commit: {seconds:.1f} s = {readings / seconds:,.0f} readings/s stored; "
                f"edge peak RSS {rss_mib:.0f} MiB"
            )
            print(
                f"  acks: {stats.acks_published} ack messages for {batches} batches "
                f"= {stats.acks_published / max(1, batches):.2f} extra messages per batch"
            )

        asyncio.run(main())


if __name__ == "__main__":
    asyncio.run(_drain_child(Path(sys.argv[1]), int(sys.argv[2]), bytes.fromhex(sys.argv[3])))
