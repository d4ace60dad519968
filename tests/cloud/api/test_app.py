"""The HTTP API through FastAPI's TestClient, against a real, migrated PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.errors import ConfigError, StorageUnavailableError
from cloud.ingest import IngestWorker
from cloud.settings import Settings
from cloud.storage import GatewaySummary, Storage
from tests.cloud.api.conftest import bearer
from tests.cloud.helpers import make_batch, now_ms, publisher, telemetry_topic
from tests.fix_broker import BrokerAddress
from wire import sign_batch

HOUR_MS = 3_600_000


def _settings(database_url: str, **extra: object) -> Settings:
    return Settings(database_url=SecretStr(database_url), **extra)  # type: ignore[arg-type]


async def _seed(database_url: str, start_ms: int) -> bytes:
    async with Storage(database_url) as storage:
        secret = await storage.register_gateway("gw-1")
        await storage.store_batch(
            make_batch("gw-1", 1, [10.0], start_ms=start_ms - 30 * HOUR_MS), ""
        )
        await storage.store_batch(make_batch("gw-1", 2, [20.0, 20.5], start_ms=start_ms), "")
        await storage.store_batch(
            make_batch("gw-1", 3, [48.0], quantity="relative_humidity", start_ms=start_ms), ""
        )
        await storage.register_gateway("gw-empty")
        return secret


@pytest.fixture
def recent_ms() -> int:
    return now_ms() - HOUR_MS


@pytest.fixture
def client(migrated_database_url: str, recent_ms: int, admin_token: str) -> Iterator[TestClient]:
    asyncio.run(_seed(migrated_database_url, recent_ms))
    app = create_app(_settings(migrated_database_url))
    with TestClient(app, headers=bearer(admin_token)) as test_client:
        yield test_client


def test_readings_of_the_last_day_by_default(client: TestClient, recent_ms: int) -> None:
    response = client.get(
        "/api/v1/readings",
        params={"gateway": "gw-1", "device": "th1", "quantity": "air_temperature"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    first = datetime.fromtimestamp(recent_ms / 1000, UTC)
    series = {"station": None, "gateway": "gw-1", "device": "th1", "quantity": "air_temperature"}
    assert body["readings"] == [
        series
        | {
            "unit": "°C",
            "time": first.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "time_ms": recent_ms,
            "value": 20.0,
            "quality": "N",
            "mean_of": None,  # a raw reading, not a mean a full outbox made
        },
        series
        | {
            "unit": "°C",
            "time": (first + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "time_ms": recent_ms + 1000,
            "value": 20.5,
            "quality": "N",
            "mean_of": None,
        },
    ]
    assert (body["has_more"], body["next_cursor"]) == (False, None)


def test_readings_in_an_explicit_window_with_a_limit(client: TestClient, recent_ms: int) -> None:
    start = datetime.fromtimestamp((recent_ms - 31 * HOUR_MS) / 1000, UTC)
    params = {
        "gateway": "gw-1",
        "device": "th1",
        "quantity": "air_temperature",
        "start": start.isoformat(),
        "limit": 2,
    }
    response = client.get("/api/v1/readings", params=params)
    assert response.status_code == 200, response.text
    assert [r["value"] for r in response.json()["readings"]] == [10.0, 20.0]


def test_times_need_an_offset_and_bare_numbers_are_refused(client: TestClient) -> None:
    params = {"gateway": "gw-1", "device": "th1", "quantity": "air_temperature"}
    naive = client.get("/api/v1/readings", params=params | {"end": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert "has no UTC offset" in naive.json()["detail"]
    number = client.get("/api/v1/readings", params=params | {"start": "1767225600"})
    assert number.status_code == 422
    assert "bare number" in number.json()["detail"]
    assert number.headers["content-type"] == "application/problem+json"


def test_unknown_series_is_404(client: TestClient) -> None:
    params = {"gateway": "gw-1", "device": "th9", "quantity": "air_temperature"}
    response = client.get("/api/v1/readings", params=params)
    assert response.status_code == 404
    assert "th9" in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"quantity": "flux"}, "not a quantity code"),
        ({"start": "yesterday"}, "start"),
        ({"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}, "start must be before"),
        ({"end": "0001-01-01T00:00:00Z"}, "between the years 1900 and 9000"),
        ({"device": "th 1"}, "device"),
        ({"gw": "gw-1"}, "gw"),
    ],
)
def test_bad_parameters_are_422_with_a_reason(
    client: TestClient, change: dict[str, str | None], complaint: str
) -> None:
    params = {"gateway": "gw-1", "device": "th1", "quantity": "air_temperature"}
    params.update(change)  # type: ignore[arg-type]
    response = client.get(
        "/api/v1/readings", params={k: v for k, v in params.items() if v is not None}
    )
    assert response.status_code == 422
    assert complaint in response.text


def test_latest_reading_of_each_series(client: TestClient, recent_ms: int) -> None:
    response = client.get("/api/v1/gateways/gw-1/latest")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["gateway"] == "gw-1"
    assert [(s["device"], s["quantity"], s["unit"], s["value"]) for s in body["series"]] == [
        ("th1", "air_temperature", "°C", 20.5),
        ("th1", "relative_humidity", "%RH", 48.0),
    ]
    assert body["series"][0]["time_ms"] == recent_ms + 1000
    assert body["series"][0]["time"].endswith("Z")


def test_latest_of_unknown_gateway_is_404_and_bad_id_422(client: TestClient) -> None:
    assert client.get("/api/v1/gateways/gw-empty/latest").json()["series"] == []
    assert client.get("/api/v1/gateways/gw-ghost/latest").status_code == 404
    assert client.get("/api/v1/gateways/gw%20x/latest").status_code == 422


def test_gateways_and_their_devices(client: TestClient, migrated_database_url: str) -> None:
    async def report() -> None:
        async with Storage(migrated_database_url) as storage:
            report = {"pending_readings": 7, "uptime_s": 120, "clock_synced": True}
            await storage.set_presence("gw-1", "online", {"th1": ("degraded", "timeout")}, report)

    asyncio.run(report())
    listed = {g["id"]: g for g in client.get("/api/v1/gateways").json()}
    assert set(listed) == {"gw-1", "gw-empty"}
    assert (listed["gw-1"]["presence"], listed["gw-empty"]["presence"]) == ("online", None)
    assert listed["gw-1"]["last_batch_at"] is not None
    assert listed["gw-empty"]["last_batch_at"] is None
    status = listed["gw-1"]["status"]
    assert (status["pending_readings"], status["uptime_s"], status["clock_synced"]) == (
        7,
        120,
        True,
    )
    assert status["unacked_batches"] is None  # not reported
    assert set(listed["gw-empty"]["status"].values()) == {None}
    assert "secret" not in json.dumps(listed)

    (device,) = client.get("/api/v1/gateways/gw-1/devices").json()
    assert (device["name"], device["health"], device["health_error"]) == (
        "th1",
        "degraded",
        "timeout",
    )
    assert device["quantities"] == ["air_temperature", "relative_humidity"]
    assert client.get("/api/v1/gateways/gw-ghost/devices").status_code == 404


def test_health_without_ingest(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "ingest": None,
        "embedded_servers": [],
        "warning": None,
    }


def test_health_says_loudly_when_running_on_embedded_servers(
    migrated_database_url: str, admin_token: str
) -> None:
    app = create_app(_settings(migrated_database_url), embedded=["postgresql", "mqtt"])
    with TestClient(app, headers=bearer(admin_token)) as test_client:
        health = test_client.get("/healthz").json()
    assert health["embedded_servers"] == ["postgresql", "mqtt"]
    assert "EMBEDDED DEVELOPMENT" in health["warning"]
    assert "SHANSHUI_DATABASE_URL" in health["warning"]
    assert "SHANSHUI_MQTT_URL" in health["warning"]


def test_health_is_503_when_the_database_is_gone(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    assert client.portal is not None
    client.portal.call(app.state.storage.close)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/gateways/gw-1/latest").status_code == 503


class _UnreachableStorage(Storage):
    async def list_gateways(self) -> list[GatewaySummary]:
        raise StorageUnavailableError(
            'listing gateways: connection to server at "10.9.8.7", port 5432 failed'
        )


def test_503_does_not_tell_clients_where_the_database_is(
    migrated_database_url: str, admin_token: str
) -> None:
    storage = _UnreachableStorage(migrated_database_url)
    app = create_app(_settings(migrated_database_url), storage=storage)
    with TestClient(app, headers=bearer(admin_token)) as client:
        response = client.get("/api/v1/gateways")
    assert response.status_code == 503
    assert "10.9.8.7" not in response.text
    assert response.json()["detail"] == "the database is unavailable; try again later"


def test_app_needs_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SHANSHUI_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="SHANSHUI_DATABASE_URL"):
        create_app(Settings())


def test_app_with_in_process_ingest(
    migrated_database_url: str,
    mqtt_broker: BrokerAddress,
    topic_root: str,
    recent_ms: int,
    admin_token: str,
) -> None:
    secret = asyncio.run(_seed(migrated_database_url, recent_ms))
    settings = _settings(
        migrated_database_url, mqtt_url=SecretStr(mqtt_broker.url), topic_root=topic_root
    )
    app = create_app(settings, ingest=True)
    with TestClient(app, headers=bearer(admin_token)) as client:
        worker = app.state.ingest
        assert isinstance(worker, IngestWorker)
        assert client.portal is not None
        with publisher(mqtt_broker.host, mqtt_broker.port) as pub:
            batch = make_batch("gw-1", 10, [23.25], start_ms=now_ms())
            pub.publish(telemetry_topic(topic_root, "gw-1"), sign_batch(batch, secret))
        client.portal.call(worker.wait_processed, 1, 15.0)

        latest = client.get("/api/v1/gateways/gw-1/latest").json()
        health = client.get("/healthz").json()

    assert latest["series"][0]["value"] == 23.25
    assert health["status"] == "ok"
    assert health["ingest"] == {
        "connected": True,
        "accepted": 1,
        "duplicate": 0,
        "dead_lettered": 0,
        "readings_stored": 1,
    }


def test_dashboard_page_draws_from_the_json_api(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/static/overview.js" in page
    script = client.get("/static/overview.js")
    assert script.status_code == 200
    assert "/api/v1/overview" in script.text
