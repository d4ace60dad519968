"""Thinned readings (means a gateway's full outbox made) stay marked in the database and the API."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from tests.cloud.api.conftest import bearer
from tests.cloud.helpers import now_ms
from wire import Batch, Reading

MINUTE_MS = 60_000


async def _seed(url: str, start_ms: int) -> None:
    async with Storage(url) as storage:
        await storage.register_gateway("gw-1")
        readings = (
            Reading("th1", "air_temperature", start_ms, 20.5, mean_of=6),
            Reading("th1", "air_temperature", start_ms + MINUTE_MS, 21.0),
            Reading("th1", "air_temperature", start_ms + 2 * MINUTE_MS, 21.5, mean_of=12),
        )
        batch = Batch("gw-1", 1, readings)
        assert (await storage.store_batch(batch, "test")).stored == 3
        # a replay stores nothing twice, marks included
        assert (await storage.store_batch(batch, "test")).duplicate


@pytest.fixture
def client(migrated_database_url: str, admin_token: str) -> Iterator[tuple[TestClient, int]]:
    start_ms = (now_ms() // MINUTE_MS - 30) * MINUTE_MS
    asyncio.run(_seed(migrated_database_url, start_ms))
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings), headers=bearer(admin_token)) as test_client:
        yield test_client, start_ms


def test_means_are_marked_in_pages_exports_and_latest(client: tuple[TestClient, int]) -> None:
    api, _ = client
    params = {"gateway": "gw-1", "quantity": "air_temperature"}
    page = api.get("/api/v1/readings", params=params)
    assert page.status_code == 200, page.text
    assert [(r["value"], r["mean_of"]) for r in page.json()["readings"]] == [
        (20.5, 6),
        (21.0, None),
        (21.5, 12),
    ]
    csv = api.get("/api/v1/readings", params=params | {"format": "csv"}).text.splitlines()
    assert csv[0].endswith(",quality,mean_of")
    assert [line.rsplit(",", 2)[1:] for line in csv[1:]] == [["N", "6"], ["N", ""], ["N", "12"]]
    latest = api.get("/api/v1/latest", params=params).json()["series"]
    assert [(r["value"], r["mean_of"]) for r in latest] == [(21.5, 12)]
