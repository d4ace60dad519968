"""Alarms beside ingest: throughput with 1,000 rules vs none, commit-to-webhook latency.

On the embedded PostgreSQL, as deployed: ingest in this process (the pipeline, as an
ingest worker runs it), the alarm evaluator in a process of its own
(``shanshui cloud alarms run``) that follows the committed batches from the database:

1. ingest throughput through :class:`IngestPipeline` (validate -> dedupe -> write) of
   100 stations' batches, without active rules and with 1,000 (10 per station), in
   pairs of rounds in one run (the rules are enabled and disabled between rounds, the
   order alternates within pairs so a drifting load cancels; the evaluator runs
   throughout); "caught up" is when the evaluator's position has passed the round's
   last batch. Besides wall-clock rates, which the other jobs on a shared machine
   blur, the CPU time of the ingest process and of the evaluator per 1,000 readings;
2. latency from the commit of a batch holding an offending reading (``handle_batch``
   returned) to the signed webhook's arrival at a local HTTP receiver, p50/p99, over
   alternating open/resolve transitions, with the 1,000 rules still active.

The machine is shared: each figure is printed with the load average (1 min) around it.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from pydantic import TypeAdapter

from cloud.alarms import Rule
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
BATCHES = 200
PAIRS = 8
TRANSITIONS = 200
QUANTITIES = ("air_temperature", "relative_humidity", "pm2_5", "pm10", "so2")
# 33 rounds of 2 poll minutes each: the data spans 66 min, from 75 min ago (ingest refuses
# the future), within the absence rules' 100 intervals (nothing is silent for real)
START_MS = int(time.time() * 1000) - 75 * 60_000


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _rules(tenant: str, *, enabled: bool) -> list[Rule]:
    rng = random.Random(10)
    kinds = [
        lambda: {"kind": "threshold", "above": rng.uniform(60, 80), "clear": 55.0, "for_s": 120},
        lambda: {"kind": "rate", "per_hour": 500.0, "window_s": 1800},
        lambda: {"kind": "threshold", "below": rng.uniform(-20, -10), "for_s": 60},
        # the bench's data lies in the past (up to 75 min): silence only past 100 intervals
        lambda: {"kind": "absence", "multiple": 100},
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
        rules.append(RULE.validate_python(
            {"id": f"r{i}", "tenant": tenant, "scope": scope, "enabled": enabled} | body
        ))  # fmt: skip
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


@contextmanager
def _evaluator(url: str) -> Iterator[subprocess.Popen[bytes]]:
    """``shanshui cloud alarms run`` on the bench's database, stopped afterwards."""
    env = {**os.environ, "SHANSHUI_DATABASE_URL": url}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shanshui", "cloud", "alarms", "run"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(30)


async def _caught_up(storage: Storage) -> None:
    """Until the evaluator's position has passed every batch committed so far."""
    async with storage.connection("bench") as conn:
        row = await (await conn.execute("SELECT max(txid)::text FROM ingested_batches")).fetchone()
    last = int(row[0]) if row and row[0] else 0
    while True:
        async with storage.connection("bench") as conn:
            cursor = await conn.execute(
                "SELECT frontier::text, pending::text[] FROM alarm_evaluation"
            )
            frontier, pending = (await cursor.fetchone()) or ("0", [])
        if int(frontier) > last and str(last) not in pending:
            return
        await asyncio.sleep(0.02)


async def _generation(storage: Storage) -> int:
    async with storage.connection("bench") as conn:
        row = await (await conn.execute("SELECT generation FROM alarm_evaluation")).fetchone()
    return int(row[0]) if row else 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_cpu_s(pgdata: Path) -> float:
    """CPU seconds of the database server's processes so far (its backends, as they live)."""
    postmaster = int((pgdata / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if int(proc.name) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


@dataclass
class _Round:
    rate: float
    ingest_ms: float  # CPU per 1,000 readings
    evaluator_ms: float
    server_ms: float
    line: str


async def _ingest(storage: Storage, batches: list[Batch], evaluator: int, pgdata: Path) -> _Round:
    pipeline = IngestPipeline(storage)
    cpu0, eval0, server0 = time.process_time(), _cpu_s(evaluator), _server_cpu_s(pgdata)
    start = time.perf_counter()
    for batch in batches:
        await pipeline.handle_batch("bench", batch, b"")
    ingested = time.perf_counter() - start
    ingest_cpu = time.process_time() - cpu0
    load = _load()
    await _caught_up(storage)
    caught_up = time.perf_counter() - start
    readings = len(batches) * BATCH_READINGS
    rate = readings / ingested
    ingest_ms, eval_ms = ingest_cpu * 1e6 / readings, (_cpu_s(evaluator) - eval0) * 1e6 / readings
    server_ms = (_server_cpu_s(pgdata) - server0) * 1e6 / readings
    line = (
        f"{rate:8,.0f} readings/s ({load}); CPU per 1,000 readings: ingest {ingest_ms:.0f} ms, "
        f"evaluator {eval_ms:.0f} ms, database {server_ms:.0f} ms; "
        f"caught up after {caught_up:.2f} s"
    )
    return _Round(rate, ingest_ms, eval_ms, server_ms, line)


async def _switch_rules(storage: Storage, *, enabled: bool) -> None:
    before = await _generation(storage)
    await put_rules(storage, Scope(None), None, _rules("env", enabled=enabled))
    # one more committed batch makes the evaluator step after it has read the rules
    await IngestPipeline(storage).handle_batch(
        "bench", Batch("gw0", 10**8 + before, (Reading("x", "so2", START_MS, 1.0),)), b""
    )
    await _caught_up(storage)


async def _throughput(url: str, evaluator: int, pgdata: Path) -> None:
    async with Storage(url, plaintext_secrets=True) as storage:
        for s in range(STATIONS):
            await add_site(storage, "env", f"S{s}", SiteAttributes(), new_tenant=s == 0)
            await storage.register_gateway(f"gw{s}", tenant="env", site=f"S{s}")
        await put_rules(storage, Scope(None), None, _rules("env", enabled=True))
        rounds = iter(range(1000))  # each round's readings one poll round later, in the past

        async def ingest() -> _Round:
            k = next(rounds)
            return await _ingest(storage, _batches(k, 1 + k * BATCHES), evaluator, pgdata)

        # warm up: series exist, the evaluator knows them
        await ingest()
        without: list[_Round] = []
        with_rules: list[_Round] = []
        first_with: list[_Round] = []
        for pair in range(PAIRS):
            for enabled in (False, True) if pair % 2 == 0 else (True, False):
                await _switch_rules(storage, enabled=enabled)
                # a rules change makes the evaluator bind every series to the new rules
                # (rare in service): one round to settle, then the measured one
                settling = await ingest()
                if enabled:
                    first_with.append(settling)
                found = await ingest()
                (with_rules if enabled else without).append(found)
                label = "1,000 rules:    " if enabled else "no active rules:"
                print(f"  pair {pair + 1}, {label} {found.line}")
        ratios = [w.rate / o.rate for w, o in zip(with_rules, without, strict=True)]
        a = statistics.median(r.rate for r in without)
        b = statistics.median(r.rate for r in with_rules)
        print(
            f"  median: {a:,.0f} vs {b:,.0f} readings/s; median of the pairs' ratios: "
            f"{1 - statistics.median(ratios):+.1%} slower with rules"
        )

        def ms(rounds: list[_Round], of: str) -> str:
            return f"{statistics.median(getattr(r, of) for r in rounds):.0f} ms"

        print(
            f"  the round right after the rules were enabled (the evaluator binds 10,000 "
            f"series to them), median: {statistics.median(r.rate for r in first_with):,.0f} "
            f"readings/s, evaluator {ms(first_with, 'evaluator_ms')} per 1,000 readings"
        )

        print(
            f"  CPU per 1,000 readings (median): ingest process {ms(without, 'ingest_ms')} "
            f"without rules, {ms(with_rules, 'ingest_ms')} with; evaluator "
            f"{ms(with_rules, 'evaluator_ms')} with rules, {ms(without, 'evaluator_ms')} without; "
            f"database (ingest's and evaluator's connections) {ms(without, 'server_ms')} without "
            f"rules, {ms(with_rules, 'server_ms')} with"
        )


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
            await _caught_up(storage)
            pipeline = IngestPipeline(storage)
            delays = []
            for n in range(TRANSITIONS):
                value = 45.0 if n % 2 == 0 else 30.0
                reading = Reading("lat", "so2", int(time.time() * 1000) + n, value, Quality.NORMAL)
                await pipeline.handle_batch("bench", Batch("gw0", 10**7 + n, (reading,)), b"")
                committed = time.perf_counter()
                if not await asyncio.to_thread(_Receiver.arrived.acquire, True, 10):
                    raise RuntimeError("no webhook within 10 s")
                delays.append(_Receiver.arrivals[-1] - committed)
        delays.sort()
        p50 = delays[len(delays) // 2] * 1000
        p99 = delays[int(len(delays) * 0.99) - 1] * 1000
        print(f"  commit -> webhook, {TRANSITIONS} transitions: p50 {p50:.1f} ms, "
              f"p99 {p99:.1f} ms ({_load()})")  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()


def run() -> None:
    """Start an embedded PostgreSQL in a temp dir and the evaluator beside it, measure, stop."""
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
    ):
        url = ensure_database(server.url(), "shanshui_bench_alarms")
        migrate(url)
        print(f" {STATIONS} stations, {BATCH_READINGS} readings per batch, {BATCHES} per round")
        with _evaluator(url) as evaluator:
            asyncio.run(_throughput(url, evaluator.pid, server.pgdata))
            asyncio.run(_latency(url))
