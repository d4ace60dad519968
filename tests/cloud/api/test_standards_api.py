"""The daily AQI per station through the API, from stored readings (real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.helpers import make_batch

# 1 May 2026 in Shanghai starts at 30 April 16:00 UTC
LOCAL_DAY_START_MS = int(datetime(2026, 4, 30, 16, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000


async def _seed(url: str) -> tuple[int, int]:
    async with Storage(url) as storage:
        air = await add_site(
            storage, "default", "Air-1", SiteAttributes(monitoring_type="air"), new_tenant=False
        )
        sparse = await add_site(storage, "default", "Air-2", SiteAttributes(), new_tenant=False)
        await storage.register_gateway("gw-air", site="Air-1")
        await storage.register_gateway("gw-sparse", site="Air-2")
        # HJ 633-2012 Table 1: a 24-h PM2.5 of 75 and PM10 of 150 µg/m³ are both IAQI 100
        for seq, (quantity, value) in enumerate((("pm2_5", 75.0), ("pm10", 150.0)), start=1):
            await storage.store_batch(
                make_batch(
                    "gw-air",
                    seq,
                    [value] * 24,
                    device="aq1",
                    quantity=quantity,
                    start_ms=LOCAL_DAY_START_MS,
                    step_ms=HOUR_MS,
                ),
                "",
            )
        # 19 hours: fewer than the 20 GB 3095-2012 asks for a valid daily mean
        await storage.store_batch(
            make_batch(
                "gw-sparse",
                1,
                [300.0] * 19,
                device="aq1",
                quantity="pm2_5",
                start_ms=LOCAL_DAY_START_MS,
                step_ms=HOUR_MS,
            ),
            "",
        )
        return air.id, sparse.id


@pytest.fixture
def client(migrated_database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_daily_aqi_of_each_station(client: TestClient, migrated_database_url: str) -> None:
    air, sparse = asyncio.run(_seed(migrated_database_url))
    headers = bearer(issue_key(migrated_database_url, "analyst", "default"))
    response = client.get("/api/v1/aqi/daily", params={"date": "2026-05-01"}, headers=headers)
    assert response.status_code == 200, response.text
    first, second = response.json()
    assert (first["station"], first["start"]) == (air, "2026-04-30T16:00:00.000Z")
    assert first["means"] == {"pm2_5": 75.0, "pm10": 150.0}
    report = first["aqi"]
    assert report["aqi"] == 100
    assert sorted(report["primary_pollutants"]) == ["pm10", "pm2_5"]
    assert report["level"] == 2
    assert second == second | {"station": sparse, "invalid": ["pm2_5"], "aqi": None}

    one = client.get(
        "/api/v1/aqi/daily", params={"date": "2026-05-01", "station": sparse}, headers=headers
    ).json()
    assert [r["station"] for r in one] == [sparse]
    refused = client.get("/api/v1/aqi/daily", params={"date": "0001-01-01"}, headers=headers)
    assert refused.status_code == 422
