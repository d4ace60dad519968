"""Water class and noise per station through the API, from stored readings (real PostgreSQL)."""

from __future__ import annotations

import asyncio
import math
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
from wire import Quality

# 1 May 2026 in Shanghai starts at 30 April 16:00 UTC
LOCAL_DAY_START_MS = int(datetime(2026, 4, 30, 16, tzinfo=UTC).timestamp() * 1000)
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
PERIOD = {"start": "2026-05-01T00:00:00+08:00", "end": "2026-05-02T00:00:00+08:00"}


async def _seed(url: str) -> tuple[int, int]:
    async with Storage(url) as storage:
        water = await add_site(
            storage,
            "default",
            "Water-1",
            SiteAttributes(monitoring_type="surface_water", water_target_class="II"),
            new_tenant=False,
        )
        noise = await add_site(
            storage,
            "default",
            "Noise-1",
            SiteAttributes(monitoring_type="noise", noise_zone="2"),
            new_tenant=False,
        )
        await storage.register_gateway("gw-water", site="Water-1")
        await storage.register_gateway("gw-noise", site="Noise-1")
        # (quantity, values, first reading, flag)
        water_readings = [
            # GB 3838-2002 Table 1: NH3-N 0.8 mg/L is class III (0.5 < 0.8 <= 1.0)
            ("ammonia_nitrogen", [0.8] * 24, LOCAL_DAY_START_MS, Quality.NORMAL),
            # flagged readings do not count, however bad
            ("ammonia_nitrogen", [100.0] * 3, LOCAL_DAY_START_MS + HOUR_MS // 2, Quality.FAULT),
            # DO: the mean of 7 and 5 is 6 mg/L, exactly the class II limit (>= 6)
            ("dissolved_oxygen", [7.0, 5.0] * 12, LOCAL_DAY_START_MS, Quality.NORMAL),
            # pH read only the day before: no data in the period
            ("water_ph", [7.5] * 3, LOCAL_DAY_START_MS - DAY_MS, Quality.NORMAL),
        ]
        for seq, (quantity, values, start_ms, quality) in enumerate(water_readings, start=1):
            batch = make_batch(
                "gw-water",
                seq,
                values,
                device="w1",
                quantity=quantity,
                start_ms=start_ms,
                step_ms=HOUR_MS,
                quality=quality,
            )
            await storage.store_batch(batch, "")
        # local hours 00-05 and 22-23 are night (52 dB), 06-21 day (55 dB)
        levels = [52.0 if hour < 6 or hour >= 22 else 55.0 for hour in range(24)]
        await storage.store_batch(
            make_batch(
                "gw-noise",
                1,
                levels,
                device="n1",
                quantity="noise_level",
                start_ms=LOCAL_DAY_START_MS,
                step_ms=HOUR_MS,
            ),
            "",
        )
        return water.id, noise.id


@pytest.fixture
def client(migrated_database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def stations(migrated_database_url: str) -> tuple[int, int]:
    return asyncio.run(_seed(migrated_database_url))


def test_water_class_of_a_station_over_a_period(
    client: TestClient, migrated_database_url: str, stations: tuple[int, int]
) -> None:
    water, _ = stations
    headers = bearer(issue_key(migrated_database_url, "analyst", "default"))
    response = client.get(
        "/api/v1/water-class", params={"station": water, **PERIOD}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["start"], body["end"]) == ("2026-04-30T16:00:00.000Z", "2026-05-01T16:00:00.000Z")
    by_item = {i["item"]: i for i in body["items"]}
    assert (
        by_item["ammonia_nitrogen"] | {"mean": 0.8, "readings": 24, "class": "III"}
        == (by_item["ammonia_nitrogen"])
    )
    assert (by_item["dissolved_oxygen"]["mean"], by_item["dissolved_oxygen"]["class"]) == (
        6.0,
        "II",
    )
    assert body["missing"] == ["ph"]
    assert body["class"] == "III"
    assert body["deciding_items"] == ["ammonia_nitrogen"]
    assert (body["target_class"], body["meets_target"]) == ("II", False)


def test_noise_of_a_station_for_a_local_day(
    client: TestClient, migrated_database_url: str, stations: tuple[int, int]
) -> None:
    _, noise = stations
    headers = bearer(issue_key(migrated_database_url, "analyst", "default"))
    response = client.get(
        "/api/v1/noise", params={"station": noise, "date": "2026-05-01"}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    ldn = 10 * math.log10((16 * 10**5.5 + 8 * 10 ** ((52 + 10) / 10)) / 24)
    assert (body["ld_db"], body["ln_db"], body["ldn_db"]) == (55.0, 52.0, round(ldn, 1))
    assert (body["day_readings"], body["night_readings"]) == (16, 8)
    limits = body["limits"]
    assert (limits["zone"], limits["day_limit_db"], limits["night_limit_db"]) == ("2", 60, 50)
    assert (limits["day_exceedance_db"], limits["night_exceedance_db"]) == (0.0, 2.0)
    assert (limits["exceeds_day"], limits["exceeds_night"]) == (False, True)


def test_station_out_of_scope_is_not_found(
    client: TestClient, migrated_database_url: str, stations: tuple[int, int]
) -> None:
    water, noise = stations
    headers = bearer(issue_key(migrated_database_url, "analyst", "default", site_ids=[water]))
    refused = client.get(
        "/api/v1/noise", params={"station": noise, "date": "2026-05-01"}, headers=headers
    )
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    refused = client.get(
        "/api/v1/water-class", params={"station": noise, **PERIOD}, headers=headers
    )
    assert refused.status_code == 404
    allowed = client.get(
        "/api/v1/water-class", params={"station": water, **PERIOD}, headers=headers
    )
    assert allowed.status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/noise", {"station": "1", "date": "2026-13-01"}),
        ("/api/v1/noise", {"station": "0", "date": "2026-05-01"}),
        ("/api/v1/noise", {"station": "1"}),
        ("/api/v1/noise", {"station": "1", "date": "0001-01-01"}),
        (
            "/api/v1/water-class",
            {"station": "1", "start": "2026-05-02T00:00:00Z", "end": PERIOD["start"]},
        ),
        ("/api/v1/water-class", {"station": "1", "start": "2026-05-01T00:00:00"}),
        ("/api/v1/water-class", {"station": "1", "water_body": "sea"}),
        ("/api/v1/water-class", {}),
    ],
)
def test_bad_parameters_are_a_422_problem(
    client: TestClient, admin_token: str, path: str, params: dict[str, str]
) -> None:
    response = client.get(path, params=params, headers=bearer(admin_token))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
