"""A station, a pipeline, an alarm evaluator following the database, a clock, on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pydantic import TypeAdapter

from cloud.alarms import Rule
from cloud.alarms.notify.message import SIGNATURE_HEADER, sign
from cloud.alarms.worker import AlarmWorker
from cloud.ingest.pipeline import STORED, IngestPipeline
from cloud.storage import Storage
from cloud.storage.access import Scope
from cloud.storage.alarm_eval import Notice
from cloud.storage.alarm_rules import put_rules
from cloud.storage.alarms import Alarm, AlarmFilter, list_alarms
from cloud.storage.sites import SiteAttributes, add_site
from wire import Batch, Quality, Reading

RULE: TypeAdapter[Rule] = TypeAdapter(Rule)
PLATFORM = Scope(None)
MINUTE = 60_000
HOUR = 60 * MINUTE
# a whole hour two days back: whole scenarios (up to 12 h) lie in the past, as ingest demands
T0 = (int(time.time() * 1000) // HOUR - 48) * HOUR


async def station(storage: Storage, tenant: str = "env", gateway: str = "gw-1") -> None:
    """A tenant with one site ``S1`` and one gateway on it."""
    await add_site(storage, tenant, "S1", SiteAttributes(region_code="610113"), new_tenant=True)
    await storage.register_gateway(gateway, tenant=tenant, site="S1")


async def rules(storage: Storage, *bodies: dict[str, Any]) -> None:
    """Store rules of tenant ``env`` (unless a body names another)."""
    parsed = [RULE.validate_python({"tenant": "env"} | body) for body in bodies]
    await put_rules(storage, PLATFORM, None, parsed)


async def alarms(storage: Storage) -> list[Alarm]:
    """Every alarm, oldest first."""
    return list(reversed(await list_alarms(storage, PLATFORM, AlarmFilter(limit=1000))))


@dataclass
class Clock:
    """The evaluator's clock, in seconds."""

    now_s: float = T0 / 1000

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Recorder:
    """An alarm sink that keeps what it is told."""

    notified: list[Notice] = field(default_factory=list)

    async def notify(self, notices: Sequence[Notice]) -> None:
        self.notified.extend(notices)

    async def tick(self) -> None:
        return None


async def evaluator(
    storage: Storage, clock: Clock, sink: Recorder | Any | None = None, **options: Any
) -> AlarmWorker:
    """A started :class:`AlarmWorker` on ``clock``, once it is the active evaluator."""
    worker = AlarmWorker(storage, clock=clock, notify=sink, tick_s=3600, **options)
    await worker.start()
    await worker.wait_active()
    return worker


@dataclass
class Station:
    """Ingest into gateway ``gw-1`` through a pipeline; the evaluator follows the database."""

    storage: Storage
    engine: AlarmWorker
    clock: Clock
    gateway: str = "gw-1"
    seq: list[int] = field(default_factory=lambda: [0])

    @property
    def pipeline(self) -> IngestPipeline:
        return IngestPipeline(self.storage)

    async def send(
        self, quantity: str, values: Sequence[float], start_ms: int, step_ms: int = MINUTE,
        device: str = "d1", *, now_ms: int | None = None,
    ) -> None:  # fmt: skip
        """One batch per reading (the clock set just after it), or one backlog batch at now_ms."""
        pipeline = self.pipeline
        readings = [
            Reading(device, quantity, start_ms + i * step_ms, v, Quality.NORMAL)
            for i, v in enumerate(values)
        ]
        groups = [readings] if now_ms is not None else [[r] for r in readings]
        for group in groups:
            self.seq[0] += 1
            self.clock.now_s = (now_ms if now_ms is not None else group[-1].time_ms + 1000) / 1000
            # received at the test's clock, not the wall clock (T0 is a fixed date)
            batch = Batch(self.gateway, self.seq[0], tuple(group))
            received_ms = int(self.clock.now_s * 1000)
            settled = await pipeline.handle_batch("test", batch, b"", received_ms)
            assert settled.outcome == STORED, settled
        await self.engine.idle()


class Receiver:
    """A real local HTTP server that checks each webhook's signature and keeps the body."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret
        self.bodies: list[bytes] = []
        self.bad_signatures = 0
        self.last_body = b""
        self.last_signature = ""
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                good = receiver.secret is not None and self.headers.get(SIGNATURE_HEADER) == sign(
                    receiver.secret, body
                )
                with receiver.received:
                    receiver.last_body = body
                    receiver.last_signature = self.headers.get(SIGNATURE_HEADER, "")
                    if good:
                        receiver.bodies.append(body)
                    else:
                        receiver.bad_signatures += 1
                    receiver.received.notify_all()
                self.send_response(200 if good else 401)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    async def wait_for(self, count: int, timeout_s: float = 10.0) -> list[bytes]:
        def wait() -> list[bytes]:
            with self.received:
                assert self.received.wait_for(lambda: len(self.bodies) >= count, timeout_s)
                return list(self.bodies)

        return await asyncio.to_thread(wait)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A running :class:`Receiver`, shut down afterwards."""
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join()
