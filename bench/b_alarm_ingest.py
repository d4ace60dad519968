"""Alarms on the ingest path: throughput with 1,000 rules vs none, commit-to-webhook latency.

On the embedded PostgreSQL, in one process (the ingest worker's shape: pipeline,
alarm engine and notifier on one event loop):

1. ingest throughput through :class:`IngestPipeline` (validate -> dedupe -> write) of
   100 stations' batches, without rules and with 1,000 active rules (10 per station),
   alternating rounds in one run; "caught up" is when the engine has evaluated all;
2. latency from the commit of a batch holding an offending reading (``handle_batch``
   returned) to the signed webhook's arrival at a local HTTP receiver, p50/p99, over
   alternating open/resolve transitions.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from pydantic import TypeAdapter

from cloud.alarms import Rule
from cloud.alarms.live import AlarmEngine
from cloud.alarms.notify import Notifier, WebhookSender
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.ingest.pipeline import IngestPipeline
from cloud.migrate import migrate
from cloud.storage import Storage
from cloud.storage.access import Scope
from cloud.storage.admin import ensure_database
from cloud.storage.alarm_contacts import NewContact, add_contact
from cloud.storage.alarm_rules import put_rules
from cloud.storage.sites import SiteAttributes, add_site
from wire import Batch, Quality, Reading

RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
STATIONS = 100
RULES_PER_STATION = 10
BATCH_READINGS = 100  # one station's poll round: 20 devices x 5 quantities
BATCHES = 300
ROUNDS = 3
TRANSITIONS = 200
QUANTITIES = ("air_temperature", "relative_humidity", "pm2_5", "pm10", "so2")
START_MS = int(time.time() * 1000) - 3_600_000


def _rules(tenant: str) -> list[Rule]:
    rng = random.Random(10)
    kinds = [
        lambda: {"kind": "threshold", "above": rng.uniform(60, 80), "clear": 55.0, "for_s": 120},
        lambda: {"kind": "rate", "per_hour": 500.0, "window_s": 1800},
        lambda: {"kind": "threshold", "below": rng.uniform(-20, -10), "for_s": 60},
        lambda: {"kind": "absence", "multiple": 5},
    ]
    # each station: 10 rules, each on one of its quantities (aqi on the pollutants)
    rules = []
    for i in range(STATIONS * RULES_PER_STATION):
        station, n = divmod(i, RULES_PER_STATION)
        quantity = QUANTITIES[n % len(QUANTITIES)]
        body = {"kind": "aqi", "level": 5} if n == 9 else kinds[n % len(kinds)]()
        if n == 9:
            quantity = "pm2_5"
        scope = {"sites": [f"S{station}"], "quantities": [quantity]}
        rules.append(RULE.validate_python({"id": f"r{i}", "tenant": tenant, "scope": scope} | body))
    return rules


def _batches(round_: int, seq0: int) -> list[Batch]:
    rng = random.Random(round_)
    out = []
    for n in range(BATCHES):
        station = n % STATIONS
        t = START_MS + (round_ * BATCHES + n) // STATIONS * 60_000
        readings = tuple(
            # steady signals with a little noise: alarms are rare, rules are evaluated
            Reading(f"d{d}", q, t, round(20 + d + rng.uniform(-0.5, 0.5), 1), Quality.NORMAL)
            for d in range(BATCH_READINGS // len(QUANTITIES))
            for q in QUANTITIES
        )
        out.append(Batch(f"gw{station}", seq0 + n, readings))
    return out


async def _ingest(
    storage: Storage, engine: AlarmEngine | None, batches: list[Batch]
) -> tuple[str, float]:
    pipeline = IngestPipeline(storage, observer=engine)
    start = time.perf_counter()
    for batch in batches:
        await pipeline.handle_batch("bench", batch, b"")
    ingested = time.perf_counter() - start
    if engine is not None:
        await engine.idle()
    caught_up = time.perf_counter() - start
    rate = len(batches) * BATCH_READINGS / ingested
    extra = f" (engine caught up after {caught_up:.2f} s, ingest {ingested:.2f} s)"
    return f"{rate:8,.0f} readings/s" + (extra if engine else ""), rate


async def _throughput(url: str) -> None:
    async with Storage(url, plaintext_secrets=True) as storage:
        for s in range(STATIONS):
            await add_site(storage, "env", f"S{s}", SiteAttributes(), new_tenant=s == 0)
            await storage.register_gateway(f"gw{s}", tenant="env", site=f"S{s}")
        await put_rules(storage, Scope(None), None, _rules("env"))
        engine = AlarmEngine(storage, tick_s=3600)
        await engine.start()
        # warm up: series exist, the engine knows them (steady state)
        await _ingest(storage, engine, _batches(99, 10**6))
        without: list[float] = []
        with_rules: list[float] = []
        for round_ in range(ROUNDS):
            line, rate = await _ingest(
                storage, None, _batches(2 * round_, 1 + 2 * round_ * BATCHES)
            )
            without.append(rate)
            print(f"  round {round_ + 1}, no rules:    {line}")
            line, rate = await _ingest(
                storage, engine, _batches(2 * round_ + 1, 1 + (2 * round_ + 1) * BATCHES)
            )
            with_rules.append(rate)
            print(f"  round {round_ + 1}, 1,000 rules: {line}")
        await engine.stop()
        a, b = statistics.median(without), statistics.median(with_rules)
        print(f"  median: {a:,.0f} vs {b:,.0f} readings/s: {1 - b / a:+.1%} slower with rules")


class _Receiver(BaseHTTPRequestHandler):
    arrivals: ClassVar[list[float]] = []
    arrived = threading.Semaphore(0)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.arrivals.append(time.perf_counter())
        self.send_response(204)
        self.end_headers()
        _Receiver.arrived.release()

    def log_message(self, *args: object) -> None:
        return None


async def _latency(url: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        async with Storage(url, plaintext_secrets=True) as storage:
            await add_contact(
                storage,
                NewContact("env", "bench", "webhook", f"http://127.0.0.1:{server.server_port}/",
                           rate_per_hour=100_000),
            )  # fmt: skip
            await put_rules(storage, Scope(None), None, [RULE.validate_python(
                {"id": "hot", "tenant": "env", "kind": "threshold", "above": 40, "clear": 38,
                 "scope": {"sites": ["S0"], "quantities": ["so2"]}})])  # fmt: skip
            notifier = Notifier(storage, {"webhook": WebhookSender()})
            engine = AlarmEngine(storage, notify=notifier, tick_s=3600)
            await engine.start()
            pipeline = IngestPipeline(storage, observer=engine)
            delays = []
            for n in range(TRANSITIONS):
                value = 45.0 if n % 2 == 0 else 30.0
                reading = Reading("lat", "so2", int(time.time() * 1000) + n, value, Quality.NORMAL)
                await pipeline.handle_batch("bench", Batch("gw0", 10**7 + n, (reading,)), b"")
                committed = time.perf_counter()
                await asyncio.to_thread(_Receiver.arrived.acquire, True, 10)
                delays.append(_Receiver.arrivals[-1] - committed)
            await engine.stop()
            await notifier.close()
        delays.sort()
        p50 = delays[len(delays) // 2] * 1000
        p99 = delays[int(len(delays) * 0.99) - 1] * 1000
        print(f"  commit -> webhook, {TRANSITIONS} transitions: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    finally:
        server.shutdown()
        server.server_close()


def run() -> None:
    """Start an embedded PostgreSQL in a temp dir, measure, stop it."""
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
    ):
        url = ensure_database(server.url(), "shanshui_bench_alarms")
        migrate(url)
        print(f" {STATIONS} stations, {BATCH_READINGS} readings per batch, {BATCHES} per round")
        asyncio.run(_throughput(url))
        asyncio.run(_latency(url))
