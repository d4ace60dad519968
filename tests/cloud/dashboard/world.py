"""A small monitoring network stored for real, and the cloud serving it over HTTP.

Two departments: ``eeb`` (environment bureau: three air stations at three AQI
levels, one noise station) and ``water`` (one river section), plus, for the render
measurement, ``perf`` with 500 air stations. Readings reach up to a few seconds ago
and back 30 days.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from cloud.alarms.events import Transition
from cloud.alarms.rules import Scope as RuleScope
from cloud.alarms.rules import ThresholdRule
from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.access import Scope
from cloud.storage.alarm_eval import evaluation
from cloud.storage.alarm_rules import put_rules
from cloud.storage.sites import SiteAttributes, add_site
from wire import Batch, Quality, Reading

MINUTE_MS = 60_000
DAY_MS = 86_400_000
PERF_STATIONS = 500
# station -> pm2_5 (µg/m³): 20 → 优 (level 1), 60 → 良 (2), 130 → 中度污染 (4)
AIR = {"air-1": 20.0, "air-2": 60.0, "air-3": 130.0}
BATCH = 4000
ALARM_RULE = "pm25-high"
# threshold rules: one on air-1's PM2.5, drawn on its chart; one of another department
AIR1_RULE = ThresholdRule(
    kind="threshold",
    id="air1-pm25",
    tenant="eeb",
    name="PM2.5 high",
    above=35.0,
    scope=RuleScope(sites=("air-1",), quantities=("pm2_5",)),
)
OTHER_RULES = (
    ThresholdRule(kind="threshold", id="eeb-no2", tenant="eeb", above=60.0,
                  scope=RuleScope(sites=("air-2",))),
    ThresholdRule(kind="threshold", id="water-all", tenant="water", above=5.0),
)  # fmt: skip


@dataclass
class World:
    """What the tests drive."""

    base_url: str
    database_url: str
    sites: dict[str, int]
    seq: list[int]
    app: FastAPI

    def store(self, gateway: str, readings: list[Reading]) -> None:
        """Store readings of ``gateway`` now, as ingest would."""

        async def go() -> None:
            async with Storage(self.database_url, max_size=1) as storage:
                self.seq[0] += 1
                await storage.store_batch(Batch(gateway, self.seq[0], tuple(readings)), "")

        asyncio.run(go())


def _series(device: str, quantity: str, value: float, now_ms: int) -> list[Reading]:
    """Every 10 min for 30 days, then every 30 s for the last hour; a fault flag 20 min ago."""
    times = list(range(now_ms - 30 * DAY_MS, now_ms - 60 * MINUTE_MS, 10 * MINUTE_MS))
    times += list(range(now_ms - 60 * MINUTE_MS, now_ms - 4000, 30_000))
    out = []
    for i, t in enumerate(times):
        wobble = value * 0.1 * ((i % 12) - 6) / 6
        flagged = abs(t - (now_ms - 20 * MINUTE_MS)) < 15_000
        quality = Quality.FAULT if flagged else Quality.NORMAL
        out.append(Reading(device, quantity, t, value * 3 if flagged else value + wobble, quality))
    return out


async def seed(url: str) -> dict[str, int]:
    """Store the network; site name -> id."""
    now_ms = int(time.time() * 1000)
    sites: dict[str, int] = {}
    seq = 0
    async with Storage(url, max_size=2) as storage:

        async def station(
            tenant: str, name: str, attrs: SiteAttributes, readings: list[Reading]
        ) -> None:
            nonlocal seq
            site = await add_site(storage, tenant, name, attrs, new_tenant=True)
            sites[name] = site.id
            gateway = f"gw-{name}"
            await storage.register_gateway(gateway, tenant=tenant, site=name)
            report = {
                "pending_readings": 17,
                "quarantined_batches": 0,
                "oldest_unsent_age_s": 620,
                "clock_synced": True,
                "config_version": "2026-11-30.1",
                "signal_csq": 14,
                "signal_rssi_dbm": -85,
            }
            await storage.set_presence(gateway, "online", {"dev1": ("ok", None)}, report)
            for i in range(0, len(readings), BATCH):
                seq += 1
                await storage.store_batch(Batch(gateway, seq, tuple(readings[i : i + BATCH])), "")

        for i, (name, pm) in enumerate(AIR.items()):
            attrs = SiteAttributes(
                latitude=34.2 + 0.05 * i,
                longitude=108.9 + 0.07 * i,
                region_code="610113",
                monitoring_type="air",
            )
            readings = _series("dev1", "pm2_5", pm, now_ms) + _series("dev1", "no2", 30.0, now_ms)
            await station("eeb", name, attrs, readings)
        noise = SiteAttributes(
            latitude=34.3,
            longitude=109.0,
            region_code="610113",
            monitoring_type="noise",
            noise_zone="2",
        )
        await station("eeb", "noise-1", noise, _series("dev1", "noise_level", 72.0, now_ms)[-60:])
        river = SiteAttributes(
            latitude=34.35,
            longitude=108.8,
            region_code="610200",
            monitoring_type="surface_water",
            water_target_class="III",
        )
        water = [
            Reading("dev1", "dissolved_oxygen", now_ms - 60_000, 4.5),
            Reading("dev1", "ammonia_nitrogen", now_ms - 60_000, 0.4),
        ]
        await station("water", "river-1", river, water)
        opened = Transition(
            ALARM_RULE,
            tenant="eeb",
            subject="gw-air-3/dev1/pm2_5",
            kind="open",
            time_ms=now_ms - 600_000,
            level="warning",
            value=130.0,
            detail="PM2.5 above 115 µg/m³",
        )
        async with evaluation(storage) as tx:
            await tx.record([opened], {ALARM_RULE: "critical"})
        await put_rules(storage, Scope(tenant_id=None), None, [AIR1_RULE, *OTHER_RULES])
        for i in range(PERF_STATIONS):
            attrs = SiteAttributes(
                latitude=33.8 + (i % 25) * 0.04,
                longitude=108.4 + (i // 25) * 0.05,
                region_code="610400",
                monitoring_type="air",
            )
            pm = Reading("dev1", "pm2_5", now_ms - 30_000, float(10 + (i * 7) % 300))
            await station("perf", f"perf-{i:03d}", attrs, [pm])
    return sites


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(database_url: str, outline: str | None) -> Iterator[tuple[str, FastAPI]]:
    """The cloud app under uvicorn on a free loopback port, in a thread; its base URL, and it."""
    settings = Settings(  # type: ignore[call-arg]
        database_url=SecretStr(database_url), map_outline=outline
    )
    port = _free_port()
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the cloud app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def token() -> str:
    """A name suffix."""
    return secrets.token_hex(3)
