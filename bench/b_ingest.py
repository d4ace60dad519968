"""Cloud ingest: COPY ceiling, store_batch, MQTT -> workers -> DB; PostgreSQL and TimescaleDB.

Per database (the embedded plain PostgreSQL, and TimescaleDB when
``SHANSHUI_BENCH_TIMESCALE_URL`` or ``SHANSHUI_TEST_TIMESCALE_URL`` names a server):

1. the ceiling: a plain ``COPY`` of the same rows into the same ``readings`` table
   (the rows' text made beforehand; a transaction per batch and per 10 batches);
2. ``Storage.store_batch`` alone, one connection, and a replayed batch;
3. the MQTT path end to end (publisher -> broker -> 1 or 2 ingest worker processes
   in one shared-subscription group -> committed), readings/s and ratio to the ceiling;
4. latency from publish to the batch's store transaction (``ingested_batches.received_at``;
   its commit follows within a few ms), p50/p99, at a steady 50 % of the 2-worker maximum.

The machine is shared (other work runs on its two cores), so each figure comes with
the load average when it was taken, and each MQTT run with the CPU time its parts
spent per batch (workers, database backends, broker, read from /proc): those do not
depend on what else runs, and say what the two cores could carry if they were ours.

Broker: Mosquitto when installed (what production runs), else the embedded rumqttd.
Everything runs on this machine's cores: broker, database, workers and publisher.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from multiprocessing.synchronize import Event
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from cloud.embedded.broker import EmbeddedBroker, free_port
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.ingest import IngestWorker
from cloud.ingest.gc_policy import tune_gc_for_ingest
from cloud.migrate import migrate
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from cloud.storage.admin import drop_database, ensure_database
from wire import Batch, Quality, Reading, sign_batch

BATCH_READINGS = 500
DIRECT_BATCHES = 200
MQTT_BATCHES = 1000
LATENCY_BATCHES = 400
DEVICES = 20
QUANTITIES = ("air_temperature", "relative_humidity", "pm2_5", "pm10", "so2")
# about four years ago: the runs below stamp their readings up to ~2.9 years later,
# all of it still in the past (ingest refuses readings from the future as future_time)
START_MS = int(time.time() * 1000) - 1500 * 86_400_000
TOPIC_ROOT = "shanshui/v1"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _batches(gateway: str, count: int, start_ms: int) -> list[Batch]:
    """``count`` batches of 500 readings over 20 devices x 5 quantities, 1 s apart."""
    rng = random.Random(gateway)
    batches = []
    t = start_ms
    for seq in range(1, count + 1):
        readings = []
        while len(readings) < BATCH_READINGS:
            for device in range(DEVICES):
                for quantity in QUANTITIES:
                    value = round(rng.uniform(0, 80), 1)
                    readings.append(Reading(f"d{device}", quantity, t, value, Quality.NORMAL))
            t += 1000
        batches.append(Batch(gateway, seq, tuple(readings[:BATCH_READINGS])))
    return batches


# --- 1 and 2: the database alone -----------------------------------------------------


async def _ceiling(url: str, storage: Storage) -> float:
    """readings/s of COPY of the same rows into readings: series ids known and the COPY
    text of every batch made before the clock starts, so this is the database's speed
    alone, not a client's; the better of one transaction per batch and per 10 batches
    (what group commit does)."""
    await storage.register_gateway("bench-copy")
    batches = _batches("bench-copy", DIRECT_BATCHES, START_MS)
    await storage.store_batch(Batch("bench-copy", 0, batches[0].readings[:100]), "bench")
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT d.name, s.quantity, s.id FROM series s JOIN devices d ON d.id = s.device_id"
            " WHERE d.gateway_id = 'bench-copy'"
        )
        ids = {(d, q): i for d, q, i in await cursor.fetchall()}
        blocks = [
            "".join(
                f"{(_EPOCH + timedelta(milliseconds=r.time_ms)).isoformat()}\t"
                f"{ids[(r.device, r.quantity)]}\t{r.value!r}\tN\n"
                for r in batch.readings
            ).encode()
            for batch in batches[1:]
        ]
        per_batch = await _copy(conn, blocks)
        grouped = [b"".join(blocks[i : i + 10]) for i in range(0, len(blocks), 10)]
        await conn.execute("TRUNCATE readings")
        await conn.commit()
        per_group = await _copy(conn, grouped)
    rate = max(per_batch, per_group)
    print(
        f"  ceiling, COPY into readings: {rate:,.0f} readings/s (one transaction per batch "
        f"{per_batch:,.0f}, per 10 batches {per_group:,.0f}; {_load()})"
    )
    return rate


async def _copy(conn: psycopg.AsyncConnection[object], blocks: list[bytes]) -> float:
    """readings/s of COPYing each block of rows in a transaction of its own."""
    rows = sum(block.count(b"\n") for block in blocks)
    start = time.perf_counter()
    for block in blocks:
        async with conn.cursor() as cur:
            copy_sql = "COPY readings (time, series_id, value, quality) FROM STDIN"
            async with cur.copy(copy_sql) as copy:
                await copy.write(block)
        await conn.commit()
    return rows / (time.perf_counter() - start)


async def _store_batch(storage: Storage, ceiling: float) -> None:
    await storage.register_gateway("bench-direct")
    batches = _batches("bench-direct", DIRECT_BATCHES, START_MS + 10**9)
    start = time.perf_counter()
    for batch in batches:
        await storage.store_batch(batch, "bench")
    elapsed = time.perf_counter() - start
    rate = DIRECT_BATCHES * BATCH_READINGS / elapsed
    print(
        f"  store_batch alone, one connection: {rate:,.0f} readings/s "
        f"({elapsed / DIRECT_BATCHES * 1000:.1f} ms per {BATCH_READINGS}-reading batch, "
        f"{rate / ceiling:.0%} of the ceiling; {_load()})"
    )
    start = time.perf_counter()
    for batch in batches[:50]:
        await storage.store_batch(batch, "bench")
    print(f"  replayed batch (dedupe on gateway+seq): {(time.perf_counter() - start) * 20:.2f} ms")


# --- 3 and 4: through MQTT -------------------------------------------------------------


def _worker_main(url: str, host: str, port: int, ready: Event, stop: Event) -> None:
    tune_gc_for_ingest()  # as `shanshui cloud ingest` does

    async def main() -> None:
        async with (
            Storage(url, max_size=2, plaintext_secrets=True) as storage,
            IngestWorker(storage, MqttEndpoint(host, port), topic_root=TOPIC_ROOT),
        ):
            ready.set()
            await asyncio.to_thread(stop.wait)

    asyncio.run(main())


def _load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def _cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) each process has used so far; gone ones are left out."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[pid] = (int(fields[11]) + int(fields[12])) / tick
    return used


def _backends(url: str) -> list[int]:
    """Server processes of this database's sessions (the workers' connections)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()"
        ).fetchall()
    return [int(pid) for (pid,) in rows]


class _CpuMeter:
    """CPU seconds that workers, database backends and the broker spend during a run."""

    def __init__(self, url: str, workers: list[int], broker: int | None) -> None:
        self._url = url
        self._groups = {"workers": workers, "broker": [] if broker is None else [broker]}
        self._start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        groups = dict(self._groups, database=_backends(self._url))
        return {name: _cpu_seconds(pids) for name, pids in groups.items()}

    def per_batch_ms(self, batches: int) -> str:
        end = self._sample()
        spent = {
            name: sum(t - self._start[name].get(pid, 0.0) for pid, t in used.items())
            for name, used in end.items()
        }
        parts = ", ".join(f"{name} {spent[name] / batches * 1000:.2f} ms" for name in spent)
        return f"CPU per batch: {parts}"


@contextmanager
def _workers(url: str, host: str, port: int, count: int) -> Iterator[list[int]]:
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    readies = [ctx.Event() for _ in range(count)]
    procs = [
        ctx.Process(target=_worker_main, args=(url, host, port, ready, stop), daemon=True)
        for ready in readies
    ]
    for proc in procs:
        proc.start()
    try:
        for ready in readies:
            if not ready.wait(60):
                raise RuntimeError("an ingest worker did not start")
        yield [proc.pid for proc in procs if proc.pid is not None]
    finally:
        stop.set()
        for proc in procs:
            proc.join(30)


def _publisher(host: str, port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    return client


def _wait_committed(url: str, gateway: str, count: int, timeout_s: float = 300) -> float:
    """Poll until ``count`` batches of ``gateway`` are committed; return when (perf_counter)."""
    deadline = time.perf_counter() + timeout_s
    query = "SELECT count(*) FROM ingested_batches WHERE gateway_id = %s"
    with psycopg.connect(url, autocommit=True) as conn:  # one session: polls cost little
        while (conn.execute(query, [gateway]).fetchone() or (0,))[0] < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{gateway}: batches still missing after {timeout_s} s")
            time.sleep(0.02)  # a benchmark watching a table: no event to wait on
    return time.perf_counter()


async def _payloads(url: str, gateway: str, count: int, start_ms: int) -> list[bytes]:
    async with Storage(url, plaintext_secrets=True) as storage:
        secret = await storage.register_gateway(gateway)
    return [sign_batch(b, secret) for b in _batches(gateway, count, start_ms)]


def _throughput(  # noqa: PLR0917 - one run, all it needs
    url: str, host: str, port: int, workers: int, ceiling: float, broker: int | None
) -> float:
    gateway = f"bench-mqtt-{workers}w"
    payloads = asyncio.run(_payloads(url, gateway, MQTT_BATCHES, START_MS + workers * 10**10))
    topic = f"{TOPIC_ROOT}/{gateway}/up/telemetry"
    with _workers(url, host, port, workers) as pids:
        client = _publisher(host, port)
        meter = _CpuMeter(url, pids, broker)
        start = time.perf_counter()
        for payload in payloads:
            client.publish(topic, payload, qos=1)
        done = _wait_committed(url, gateway, MQTT_BATCHES)
        cpu = meter.per_batch_ms(MQTT_BATCHES)
        client.loop_stop()
        client.disconnect()
    rate = MQTT_BATCHES * BATCH_READINGS / (done - start)
    print(
        f"  MQTT -> {workers} worker{'s' if workers > 1 else ''} -> committed: "
        f"{MQTT_BATCHES / (done - start):,.0f} batches/s, {rate:,.0f} readings/s "
        f"({rate / ceiling:.0%} of the ceiling; {_load()})\n    {cpu}"
    )
    return rate


def _latency(url: str, host: str, port: int, workers: int, max_rate: float) -> None:
    gateway = "bench-latency"
    payloads = asyncio.run(_payloads(url, gateway, LATENCY_BATCHES, START_MS + 9 * 10**10))
    topic = f"{TOPIC_ROOT}/{gateway}/up/telemetry"
    interval_s = BATCH_READINGS / (max_rate / 2)
    sent: dict[int, float] = {}
    with _workers(url, host, port, workers):
        client = _publisher(host, port)
        first = time.perf_counter()
        for seq, payload in enumerate(payloads, start=1):
            delay = first + (seq - 1) * interval_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # a steady publishing rate
            sent[seq] = time.time()
            client.publish(topic, payload, qos=1)
        _wait_committed(url, gateway, LATENCY_BATCHES)
        client.loop_stop()
        client.disconnect()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT seq, extract(epoch FROM received_at)::float8 FROM ingested_batches"
            " WHERE gateway_id = %s",
            [gateway],
        ).fetchall()
    latencies = sorted((at - sent[seq]) * 1000 for seq, at in rows)
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"  latency at 50 % load ({BATCH_READINGS / interval_s:,.0f} readings/s, "
        f"{workers} workers): publish -> stored p50 {p50:.0f} ms, p99 {p99:.0f} ms ({_load()})"
    )


# --- servers ---------------------------------------------------------------------------


@contextmanager
def _broker(tmp: Path) -> Iterator[tuple[str, int, str, int | None]]:
    """(host, port, kind, pid of a broker process whose CPU time can be read)."""
    mosquitto = shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )
    if mosquitto is None:
        with EmbeddedBroker(port=0) as broker:
            yield broker.host, broker.port, "rumqttd", None
        return
    host, port = "127.0.0.1", free_port()
    conf = tmp / "mosquitto.conf"
    # Anonymous access on a loopback port only this run knows: benchmark only.
    conf.write_text(
        f"listener {port} {host}\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 100000\nlog_type error\n"
    )
    process = subprocess.Popen([mosquitto, "-c", str(conf)])  # noqa: S603 - our binary and config
    try:
        for _ in range(250):
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.02)
        yield host, port, "mosquitto", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


def _measure(server_url: str, label: str, host: str, port: int, broker: int | None) -> None:
    name = f"shanshui_bench_{secrets.token_hex(4)}"
    url = ensure_database(server_url, name)
    try:
        migrate(url)
        print(f" {label}:")

        async def direct() -> float:
            async with Storage(url, plaintext_secrets=True) as storage:
                ceiling = await _ceiling(url, storage)
                await _store_batch(storage, ceiling)
                return ceiling

        ceiling = asyncio.run(direct())
        _throughput(url, host, port, 1, ceiling, broker)
        best = _throughput(url, host, port, 2, ceiling, broker)
        _latency(url, host, port, 2, best)
    finally:
        drop_database(server_url, name)


def run() -> None:
    """Start an embedded PostgreSQL and a broker in a temp dir, measure, stop them."""
    timescale = os.environ.get("SHANSHUI_BENCH_TIMESCALE_URL") or os.environ.get(
        "SHANSHUI_TEST_TIMESCALE_URL"
    )
    with (
        tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp,
        EmbeddedPostgres(Path(tmp) / "pg") as server,
        _broker(Path(tmp)) as (host, port, broker, broker_pid),
    ):
        print(f" broker: {broker}; {BATCH_READINGS} readings per batch")
        _measure(server.url(), "plain PostgreSQL (embedded)", host, port, broker_pid)
        if timescale:
            _measure(timescale, "TimescaleDB", host, port, broker_pid)
        else:
            print(" TimescaleDB: skipped (set SHANSHUI_BENCH_TIMESCALE_URL)")
