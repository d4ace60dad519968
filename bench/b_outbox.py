"""Edge outbox (SQLite, WAL) on this disk: enqueue, seal and ack costs, backlog drain rate."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from edge.outbox import OutboxStore
from wire import Quality, Reading

CYCLES = 400  # poll cycles
READINGS_PER_CYCLE = 20  # 10 sensors x 2 points: a busy RS-485 bus
BATCH = 200
BACKLOG = 50_000  # readings queued during an outage


def _cycle(start_ms: int, n: int) -> list[Reading]:
    return [
        Reading(f"d{i % 10}", "air_temperature", start_ms + i, 20.0 + i % 7, Quality.NORMAL)
        for i in range(n)
    ]


def run() -> None:
    """Print per-operation costs with the outbox in a temp dir on this machine's disk."""
    with tempfile.TemporaryDirectory(prefix="shanshui-outbox-") as tmp:
        store = OutboxStore.open(Path(tmp))
        t0 = 1_790_000_000_000
        start = time.perf_counter()
        for c in range(CYCLES):
            store.enqueue(_cycle(t0 + c * 1000, READINGS_PER_CYCLE))
        enqueue_s = (time.perf_counter() - start) / CYCLES
        start = time.perf_counter()
        sealed = []
        while (batch := store.seal("gw-bench", BATCH)) is not None:
            sealed.append(batch.seq)
        seal_s = (time.perf_counter() - start) / len(sealed)
        start = time.perf_counter()
        for seq in sealed:
            store.ack(seq)
        ack_s = (time.perf_counter() - start) / len(sealed)
        print(
            f"  enqueue one poll cycle ({READINGS_PER_CYCLE} readings, one transaction): "
            f"{enqueue_s * 1000:.2f} ms"
        )
        print(f"  seal (encode) a {BATCH}-reading batch (synchronous=FULL): {seal_s * 1000:.2f} ms")
        print(f"  ack one batch: {ack_s * 1000:.2f} ms")

        store.enqueue(_cycle(t0, BACKLOG))
        start = time.perf_counter()
        drained = 0
        while (batch := store.seal("gw-bench", 500)) is not None:
            store.ack(batch.seq)
            drained += batch.readings
        drain_s = time.perf_counter() - start
        size_kib = sum(f.stat().st_size for f in Path(tmp).iterdir()) // 1024
        print(
            f"  drain a {BACKLOG:,}-reading backlog (seal 500 + ack): {drain_s:.2f} s = "
            f"{drained / drain_s:,.0f} readings/s; files now {size_kib:,} KiB"
        )
        store.close()
