"""One reading's whole path on real parts, in one test process.

simulated Modbus TCP slave -> edge agent (poller, SQLite outbox, paho) -> real
MQTT broker -> ingest worker (HMAC verify, dedupe) -> real PostgreSQL -> HTTP API.
The assertions are on the exact values the simulator served.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.api import create_app
from cloud.ingest import IngestStats, IngestWorker
from cloud.settings import Settings, parse_mqtt_url
from cloud.storage import Storage
from edge.app import Agent
from edge.config import load_config
from simulators.modbus_tcp import SimulatedStation
from tests.cloud.api.conftest import bearer, issue_key
from tests.edge.support import write_gateway
from tests.fix_broker import BrokerAddress

pytestmark = pytest.mark.e2e

MODEL = "jxct-th-rs485"
TIMEOUT_S = 20.0


def _series(client: TestClient, gateway: str, device: str, quantity: str) -> list[dict[str, Any]]:
    response = client.get(
        "/api/v1/readings",
        params={"gateway": gateway, "device": device, "quantity": quantity, "limit": 10_000},
    )
    if response.status_code == 404:  # no batch of this series stored yet
        return []
    assert response.status_code == 200, response.text
    body = response.json()
    readings: list[dict[str, Any]] = body["readings"]
    assert {(r["gateway"], r["device"], r["quantity"]) for r in readings} <= {
        (gateway, device, quantity)
    }
    return readings


async def _until_api_shows(
    worker: IngestWorker,
    query: Callable[[], list[dict[str, Any]]],
    condition: Callable[[list[dict[str, Any]]], bool],
) -> list[dict[str, Any]]:
    """Re-query the API after each message the worker handles, until ``condition`` holds."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            seen = worker.stats.processed
            rows = await asyncio.to_thread(query)
            if condition(rows):
                return rows
            await worker.wait_until(lambda s, n=seen: s.processed > n, TIMEOUT_S)


def test_served_values_reach_the_api_exactly(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gateway = f"gw-e2e-{secrets.token_hex(3)}"
    settings = Settings(database_url=migrated_database_url, topic_root=topic_root)
    endpoint = parse_mqtt_url(mqtt_broker.url)

    async def scenario(client: TestClient) -> None:
        async with Storage(migrated_database_url) as storage:
            secret = await storage.register_gateway(gateway, site="E2E station")
            async with (
                SimulatedStation.for_model(MODEL, [1], port=0, update_interval_s=None) as station,
                IngestWorker(storage, endpoint, topic_root=topic_root) as worker,
            ):
                station.set_value(1, "temperature", -10.1)  # the JXCT manual's raw 0xFF9B
                station.set_value(1, "humidity", 55.3)
                first = station.served(1)
                config_path = write_gateway(
                    tmp_path,
                    gateway_id=gateway,
                    mqtt_port=mqtt_broker.port,
                    topic_root=topic_root,
                    modbus_port=station.port,
                    slaves={"th1": 1},
                    secret=secret,
                )
                async with Agent(load_config(config_path, environ={})):
                    await worker.wait_until(lambda s: s.presence_updates >= 1, TIMEOUT_S)
                    (listed,) = (await asyncio.to_thread(client.get, "/api/v1/gateways")).json()
                    assert (listed["id"], listed["presence"]) == (gateway, "online")

                    def temperatures() -> list[dict[str, Any]]:
                        return _series(client, gateway, "th1", "air_temperature")

                    rows = await _until_api_shows(worker, temperatures, bool)
                    assert {r["value"] for r in rows} == {first["temperature"]} == {-10.1}
                    assert {r["quality"] for r in rows} == {"N"}
                    humidity = _series(client, gateway, "th1", "relative_humidity")
                    assert {r["value"] for r in humidity} == {first["humidity"]} == {55.3}

                    # The sensor's value changes: the new value arrives too, after the old.
                    station.set_value(1, "temperature", 23.4)
                    rows = await _until_api_shows(
                        worker, temperatures, lambda rs: rs[-1]["value"] == 23.4
                    )
                    values = [r["value"] for r in rows]
                    assert set(values) == {-10.1, 23.4}
                    switch = values.index(23.4)
                    assert values[switch:] == [23.4] * (len(values) - switch)
                    times = [r["time_ms"] for r in rows]
                    assert times == sorted(times)

                # the agent said goodbye: its status went offline (after any online updates)
                def gateways() -> list[dict[str, Any]]:
                    rows: list[dict[str, Any]] = client.get("/api/v1/gateways").json()
                    return rows

                (listed,) = await _until_api_shows(
                    worker, gateways, lambda rows: rows[0]["presence"] == "offline"
                )
                assert listed["last_batch_at"] is not None
                stats: IngestStats = worker.stats
                assert stats.dead_lettered == 0
                assert stats.accepted >= 2

    headers = bearer(issue_key(migrated_database_url))
    with TestClient(create_app(settings), headers=headers) as client:
        asyncio.run(scenario(client))
