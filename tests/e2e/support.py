"""Helpers for the end-to-end tests: the ingest side on real parts (PostgreSQL, a real broker,
the ingest worker) around a registered gateway that polls a simulated station, and what the
delivery tests check afterwards (the outbox empty, every held reading stored exactly once)."""

from __future__ import annotations

import contextlib
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cloud.errors import SeriesNotFoundError
from cloud.ingest import IngestWorker
from cloud.settings import MqttEndpoint, parse_mqtt_url
from cloud.storage import Storage
from edge.config import EdgeConfig, load_config
from edge.outbox import OutboxStore
from simulators.modbus_tcp import SimulatedStation
from tests.edge.support import MODEL, journal_outbox, write_gateway
from tests.fix_broker import BrokerAddress

QUANTITIES = ("air_temperature", "relative_humidity")


@dataclass(frozen=True)
class Rig:
    """A gateway registered in PostgreSQL, polling a simulated station through a real broker."""

    storage: Storage
    station: SimulatedStation
    broker: BrokerAddress
    topic_root: str
    gateway: str
    secret: bytes
    folder: Path
    ack_timeout_s: float

    @property
    def endpoint(self) -> MqttEndpoint:
        return parse_mqtt_url(self.broker.url)

    @property
    def data_dir(self) -> Path:
        return self.folder / "var"

    def write(
        self, secret: bytes | None = None, *, quarantine_after_sends: int | None = None
    ) -> Path:
        """(Re)write gateway.yaml (device th1 on slave 1) with ``secret`` or the registered one."""
        return write_gateway(
            self.folder,
            gateway_id=self.gateway,
            mqtt_port=self.broker.port,
            topic_root=self.topic_root,
            modbus_port=self.station.port,
            slaves={"th1": 1},
            secret=self.secret if secret is None else secret,
            ack_timeout_s=self.ack_timeout_s,
            quarantine_after_sends=quarantine_after_sends,
        )

    def config(self, secret: bytes | None = None, **options: int) -> EdgeConfig:
        return load_config(self.write(secret, **options), environ={})

    def ingest_worker(self) -> IngestWorker:
        """The cloud's ingest worker on this rig's broker and database (an async context)."""
        return IngestWorker(self.storage, self.endpoint, topic_root=self.topic_root)


@contextlib.asynccontextmanager
async def gateway_rig(
    database_url: str,
    broker: BrokerAddress,
    topic_root: str,
    folder: Path,
    *,
    prefix: str,
    ack_timeout_s: float = 0.5,
) -> AsyncIterator[Rig]:
    """Storage, a station, a gateway ``prefix``-<random> registered, its yaml written, and its
    outbox journaled (:func:`tests.edge.support.journal_outbox`). The worker is the test's to
    start: ``rig.ingest_worker()``."""
    gateway = f"{prefix}-{secrets.token_hex(3)}"
    async with (
        Storage(database_url) as storage,
        SimulatedStation.for_model(MODEL, [1], port=0) as station,
    ):
        secret = await storage.register_gateway(gateway)
        rig = Rig(storage, station, broker, topic_root, gateway, secret, folder, ack_timeout_s)
        rig.write()
        journal_outbox(rig.data_dir)
        yield rig


async def stored(storage: Storage, gateway: str, devices: list[str]) -> list[tuple[str, str, int]]:
    """Every reading of the gateway in the database, as (device, quantity, time_ms)."""
    rows = []
    start, end = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    for device in devices:
        for quantity in QUANTITIES:
            try:
                series = await storage.readings(
                    gateway, device, quantity, start=start, end=end, limit=1_000_000
                )
            except SeriesNotFoundError:
                continue
            rows.extend((device, quantity, r.time_ms) for r in series.readings)
    return rows


def outbox_counts(data_dir: Path) -> tuple[int, int, int]:
    """(pending readings, unacked batches, quarantined batches) in the outbox at ``data_dir``."""
    store = OutboxStore.open(data_dir)
    try:
        counts = store.counts()
    finally:
        store.close()
    return counts.pending_readings, counts.unacked_batches, counts.quarantined_batches


def assert_exactly_once(held: list[tuple[str, str, int]], got: list[tuple[str, str, int]]) -> None:
    assert held, "the gateway held nothing: the test proved nothing"
    assert Counter(got) == Counter(held)  # each reading once, none missing, none extra
