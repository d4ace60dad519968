"""Live channel: one poll of the database per tick for every open stream, and the fan-out.

A fresh database with GATEWAYS gateways (one device, QUANTITIES quantities each) on
GATEWAYS stations. Each tick, every gateway stores one batch (one reading per
quantity), then the app's :class:`LiveHub` polls once and hands what it found to
STREAMS open streams (the real ``/api/v1/live`` stream objects, each resolving its
scope: half watch one station, half the whole platform). Printed: database queries
per tick (the hub's; before the hub each stream polled on its own: two queries per
stream and tick), the hub's poll time, the fan-out time, and the events queued.

Plain PostgreSQL: the embedded server, or SHANSHUI_BENCH_DATABASE_URL.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cloud.api.live_hub import LiveHub, Tick
from cloud.api.routes.live import LiveStream
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.migrate import migrate
from cloud.storage import Storage
from cloud.storage.access import Scope, SeriesFilter
from cloud.storage.admin import drop_database, ensure_database
from cloud.storage.keys import ApiKey
from cloud.storage.live_feed import FeedRow
from cloud.storage.sites import SiteAttributes, add_site
from wire import Batch, Reading

GATEWAYS = 200
QUANTITIES = ("pm2_5", "pm10", "no2", "so2", "o3")
STREAMS = 200
TICKS = 20
BENCH_DB = "shanshui_bench_live"
ADMIN = ApiKey(
    0, "bench", "bench", "admin", None, Scope(tenant_id=None), 1e9, 10**9,
    datetime.now(UTC), None, None,
)  # fmt: skip


async def _stations(storage: Storage) -> dict[int, str]:
    sites = {}
    for i in range(GATEWAYS):
        name = f"st-{i:03d}"
        site = await add_site(storage, "bench", name, SiteAttributes(), new_tenant=True)
        await storage.register_gateway(f"gw-{i:03d}", tenant="bench", site=name)
        sites[site.id] = f"gw-{i:03d}"
    return sites


async def _store_round(storage: Storage, seq: int) -> None:
    now_ms = int(time.time() * 1000)
    for i in range(GATEWAYS):
        readings = tuple(Reading("dev1", q, now_ms, 10.0 + i) for q in QUANTITIES)
        await storage.store_batch(Batch(f"gw-{i:03d}", seq, readings), "")


async def _bench(conninfo: str) -> None:
    async with Storage(conninfo, max_size=4) as storage:
        sites = await _stations(storage)
        await _store_round(storage, 1)  # devices and series exist before streams open
        hub = LiveHub(storage)
        streams = []
        for n, site_id in enumerate(list(sites) * (STREAMS // GATEWAYS + 1)):
            if len(streams) == STREAMS:
                break
            query = SeriesFilter(site_id=site_id) if n % 2 else SeriesFilter()
            stream = LiveStream(storage, ADMIN, query, send_readings=True)
            await stream.rescope()
            streams.append(stream)
            hub._listeners.append(stream)  # registered without the polling task: ticked here
        polls, fanouts = [], []
        for seq in range(2, TICKS + 2):
            await _store_round(storage, seq)
            queries = hub.queries
            began = time.perf_counter()
            rows = await _poll(hub)
            polled = time.perf_counter()
            tick = Tick(rows, hub._gateways)
            for stream in streams:
                stream.offer(tick)
            done = time.perf_counter()
            polls.append(((polled - began) * 1000, hub.queries - queries, len(rows)))
            fanouts.append((done - polled) * 1000)
        events = sum(s._queue.qsize() for s in streams)
        per_tick = statistics.median(q for _, q, _ in polls)
        rows_per_tick = statistics.median(r for _, _, r in polls)
        print(
            f"  {STREAMS} streams, {GATEWAYS} gateways x {len(QUANTITIES)} quantities: "
            f"{per_tick:.0f} queries per tick (one stream each: {2 * STREAMS}), "
            f"{rows_per_tick:.0f} new readings per tick"
        )
        print(
            f"  hub poll p50 {statistics.median(p for p, _, _ in polls):6.1f} ms, "
            f"fan-out to {STREAMS} streams p50 {statistics.median(fanouts):6.1f} ms, "
            f"{events:,} events queued in {TICKS} ticks"
        )


class _Tap:
    """Catches what one hub tick offers, so that the fan-out is timed apart."""

    def __init__(self) -> None:
        self.rows: list[FeedRow] = []

    def offer(self, tick: Tick) -> None:
        self.rows = list(tick.readings)


async def _poll(hub: LiveHub) -> list[FeedRow]:
    tap = _Tap()
    listeners, hub._listeners = hub._listeners, [tap]
    try:
        await hub._tick()
    finally:
        hub._listeners = listeners
    return tap.rows


def _on(server_url: str, what: str) -> None:
    drop_database(server_url, BENCH_DB)
    conninfo = ensure_database(server_url, BENCH_DB)
    try:
        migrate(conninfo)
        print(f" {what}")
        asyncio.run(_bench(conninfo))
    finally:
        drop_database(server_url, BENCH_DB)


def run() -> None:
    """Print queries per tick, poll and fan-out times."""
    server = os.environ.get("SHANSHUI_BENCH_DATABASE_URL")
    if server:
        _on(server, "PostgreSQL")
    else:
        with tempfile.TemporaryDirectory() as tmp, EmbeddedPostgres(Path(tmp)) as embedded:
            _on(embedded.url(), "PostgreSQL (embedded)")
