"""Reading queries through the API: cursor pages both ways, buckets in the station's time
zone, latest values, CSV exports in chunks. Against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage, aggregates, queries
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.api.conftest import bearer
from tests.cloud.helpers import make_batch
from wire import Quality

# 2026-03-01 15:00 UTC = 23:00 in Shanghai: a day boundary there falls at 16:00 UTC
START = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)
MINUTE_MS = 60_000


async def _seed(url: str) -> int:
    async with Storage(url) as storage:
        site = await add_site(storage, "default", "S-1", SiteAttributes(), new_tenant=False)
        await storage.register_gateway("gw-1", site="S-1")
        values = [float(i) for i in range(120)]  # two hours, one a minute
        await storage.store_batch(
            make_batch("gw-1", 1, values, start_ms=START_MS, step_ms=MINUTE_MS), ""
        )
        await storage.store_batch(
            make_batch(
                "gw-1", 2, [99.0], start_ms=START_MS + 30 * MINUTE_MS + 1, quality=Quality.FAULT
            ),
            "",
        )
        await storage.store_batch(
            make_batch("gw-1", 3, [40.0], quantity="relative_humidity", start_ms=START_MS), ""
        )
        return site.id


@pytest.fixture
def client(migrated_database_url: str, admin_token: str) -> Iterator[TestClient]:
    asyncio.run(_seed(migrated_database_url))
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings), headers=bearer(admin_token)) as test_client:
        yield test_client


WINDOW = {"start": "2026-03-01T15:00:00Z", "end": "2026-03-01T17:00:00Z"}
TEMPERATURE = WINDOW | {"quantity": "air_temperature"}


def _all_pages(client: TestClient, params: dict[str, str]) -> list[float]:
    values: list[float] = []
    cursor = None
    while True:
        page = client.get(
            "/api/v1/readings", params=params | ({"cursor": cursor} if cursor else {})
        ).json()
        values += [r["value"] for r in page["readings"]]
        if not page["has_more"]:
            assert page["next_cursor"] is None
            return values
        cursor = page["next_cursor"]


def test_cursor_pages_cover_the_window_once_each_way(client: TestClient) -> None:
    forward = _all_pages(client, TEMPERATURE | {"limit": "7"})
    # the fault-flagged 99 came 1 ms after the reading at minute 30
    assert forward == [float(i) for i in range(31)] + [99.0] + [float(i) for i in range(31, 120)]
    backward = _all_pages(client, TEMPERATURE | {"limit": "50", "order": "desc"})
    assert backward == list(reversed(forward))
    newest = client.get("/api/v1/readings", params=TEMPERATURE | {"order": "desc", "limit": "1"})
    assert [r["value"] for r in newest.json()["readings"]] == [119.0]


def test_a_cursor_of_another_order_or_forged_is_refused(client: TestClient) -> None:
    page = client.get("/api/v1/readings", params=TEMPERATURE | {"limit": "1"}).json()
    wrong = client.get(
        "/api/v1/readings",
        params=TEMPERATURE | {"cursor": page["next_cursor"], "order": "desc"},
    )
    assert wrong.status_code == 422
    assert "order=asc" in wrong.json()["detail"]
    forged = client.get("/api/v1/readings", params=TEMPERATURE | {"cursor": "bm9wZQ"})
    assert forged.status_code == 422


def test_hourly_buckets_count_only_valid_readings(client: TestClient) -> None:
    body = client.get("/api/v1/aggregates", params=TEMPERATURE | {"bucket": "1h"}).json()
    (series,) = body["series"]
    assert series["time_zone"] == "Asia/Shanghai"
    first, second = series["buckets"]
    assert first == {
        "start": "2026-03-01T15:00:00.000Z",
        "start_ms": START_MS,
        "avg": 29.5,
        "min": 0.0,
        "max": 59.0,
        "count": 60,  # the fault-flagged 99 is left out
    }
    assert (second["min"], second["max"], second["count"]) == (60.0, 119.0, 60)


def test_daily_buckets_are_cut_at_midnight_in_the_station_zone(client: TestClient) -> None:
    body = client.get("/api/v1/aggregates", params=TEMPERATURE | {"bucket": "1d"}).json()
    days = body["series"][0]["buckets"]
    # 15:00-16:00 UTC is 23:00-24:00 on 1 March in Shanghai, the next hour is 2 March
    assert [(d["start"], d["count"]) for d in days] == [
        ("2026-02-28T16:00:00.000Z", 60),
        ("2026-03-01T16:00:00.000Z", 60),
    ]


def test_change_the_station_zone_and_the_days_follow(client: TestClient) -> None:
    (site,) = client.get("/api/v1/sites").json()
    patched = client.patch(f"/api/v1/sites/{site['id']}", json={"time_zone": "UTC"})
    assert patched.status_code == 200, patched.text
    body = client.get("/api/v1/aggregates", params=TEMPERATURE | {"bucket": "1d"}).json()
    assert [d["start"] for d in body["series"][0]["buckets"]] == ["2026-03-01T00:00:00.000Z"]


@pytest.mark.parametrize("bucket", ["1h", "3h", "1d", "1mo"])
def test_rollups_and_raw_readings_give_the_same_buckets(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, bucket: str
) -> None:
    params = TEMPERATURE | {"bucket": bucket}
    from_rollups = client.get("/api/v1/aggregates", params=params).json()
    monkeypatch.setattr(aggregates, "fits_hourly", lambda *_: False)
    from_raw = client.get("/api/v1/aggregates", params=params).json()
    assert from_rollups["series"][0]["buckets"]
    assert from_rollups == from_raw


def test_a_window_off_the_hour_reads_raw_readings(client: TestClient) -> None:
    params = {
        "quantity": "air_temperature",
        "bucket": "1h",
        "start": "2026-03-01T15:30:00Z",
        "end": "2026-03-01T17:00:00Z",
    }
    buckets = client.get("/api/v1/aggregates", params=params).json()["series"][0]["buckets"]
    assert [(b["start"], b["count"], b["min"]) for b in buckets] == [
        ("2026-03-01T15:00:00.000Z", 30, 30.0),
        ("2026-03-01T16:00:00.000Z", 60, 60.0),
    ]


def test_too_many_buckets_is_refused_with_a_reason(client: TestClient) -> None:
    params = {"bucket": "1min", "start": "2000-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
    refused = client.get("/api/v1/aggregates", params=params)
    assert refused.status_code == 422
    assert "larger bucket" in refused.json()["detail"]


def test_latest_per_series_with_filters(client: TestClient) -> None:
    body = client.get("/api/v1/latest", params={"gateway": "gw-1"}).json()
    assert [(s["quantity"], s["value"]) for s in body["series"]] == [
        ("air_temperature", 119.0),
        ("relative_humidity", 40.0),
    ]
    only = client.get("/api/v1/latest", params={"quantity": "relative_humidity"}).json()
    assert [s["quantity"] for s in only["series"]] == ["relative_humidity"]


def test_csv_export_streams_every_row_in_chunks(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "EXPORT_FETCH_ROWS", 16)
    with client.stream(
        "GET", "/api/v1/readings", params=TEMPERATURE | {"format": "csv"}
    ) as response:
        assert response.status_code == 200
        chunks = list(response.iter_text())
    lines = "".join(chunks).splitlines()
    assert lines[0] == "time,station,gateway,device,quantity,unit,value,quality,mean_of"
    assert len(lines) == 1 + 121
    assert lines[1].startswith("2026-03-01T15:00:00.000Z,")
    assert lines[1].endswith(",gw-1,th1,air_temperature,°C,0.0,N,")
