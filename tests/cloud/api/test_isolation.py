"""Tenant isolation: what a key of one department sees of another's stations.

Against a real PostgreSQL: keys, grants and readings are stored for real; the API
is driven through the TestClient.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.grants import NewGrant, create_grant, revoke_grant
from cloud.storage.keys import list_keys, revoke_key
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.helpers import make_batch, now_ms

HOUR_MS = 3_600_000


async def _seed(url: str, start_ms: int) -> dict[str, int]:
    async with Storage(url) as storage:
        a = await add_site(
            storage, "eeb", "A-1", SiteAttributes(region_code="610113"), new_tenant=True
        )
        b = await add_site(
            storage, "water", "B-1", SiteAttributes(region_code="610200"), new_tenant=True
        )
        await storage.register_gateway("gw-a", tenant="eeb", site="A-1")
        await storage.register_gateway("gw-a2", tenant="eeb", site="A-1")
        await storage.register_gateway("gw-b", tenant="water", site="B-1")
        for seq, gw in enumerate(("gw-a", "gw-a2", "gw-b"), start=1):
            await storage.store_batch(make_batch(gw, seq, [1.0, 2.0], start_ms=start_ms), "")
            await storage.store_batch(
                make_batch(gw, seq + 10, [55.0], quantity="relative_humidity", start_ms=start_ms),
                "",
            )
        return {"a": a.id, "b": b.id}


@pytest.fixture
def world(migrated_database_url: str) -> Iterator[tuple[TestClient, dict[str, int], str]]:
    sites = asyncio.run(_seed(migrated_database_url, now_ms() - HOUR_MS))
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        yield client, sites, migrated_database_url


def _run(url: str, work: object) -> None:
    async def go() -> None:
        async with Storage(url, max_size=1) as storage:
            await work(storage)  # type: ignore[operator]

    asyncio.run(go())


def test_an_analyst_sees_another_department_only_through_a_grant(
    world: tuple[TestClient, dict[str, int], str],
) -> None:
    client, sites, url = world
    analyst = bearer(issue_key(url, "analyst", "water"))

    def sees_gw_a() -> int:
        return client.get("/api/v1/gateways/gw-a/latest", headers=analyst).status_code

    assert sees_gw_a() == 404
    assert client.get(f"/api/v1/sites/{sites['a']}", headers=analyst).status_code == 404
    assert (
        client.get("/api/v1/readings", params={"station": sites["a"]}, headers=analyst).status_code
        == 404
    )
    listed = {g["id"] for g in client.get("/api/v1/gateways", headers=analyst).json()}
    assert listed == {"gw-b"}

    grant_ids: list[int] = []

    async def grant(storage: Storage) -> None:
        made = await create_grant(
            storage, NewGrant("eeb", "water", quantities=("air_temperature",))
        )
        grant_ids.append(made.id)

    _run(url, grant)
    assert sees_gw_a() == 200
    latest = client.get("/api/v1/gateways/gw-a/latest", headers=analyst).json()
    assert [s["quantity"] for s in latest["series"]] == ["air_temperature"]  # not humidity
    readings = client.get(
        "/api/v1/readings", params={"station": sites["a"]}, headers=analyst
    ).json()["readings"]
    assert {r["gateway"] for r in readings} == {"gw-a", "gw-a2"}
    assert {r["quantity"] for r in readings} == {"air_temperature"}

    _run(url, lambda storage: revoke_grant(storage, grant_ids[0]))
    assert sees_gw_a() == 404


def test_a_grant_limits_the_time_range_and_ends_when_it_expires(
    world: tuple[TestClient, dict[str, int], str],
) -> None:
    client, _, url = world
    analyst = bearer(issue_key(url, "analyst", "water"))
    now = datetime.now(UTC)
    params = {"gateway": "gw-a", "quantity": "air_temperature"}

    async def old_data_only(storage: Storage) -> None:
        await create_grant(
            storage, NewGrant("eeb", "water", valid_until=now - 2 * timedelta(hours=1))
        )

    _run(url, old_data_only)
    assert client.get("/api/v1/readings", params=params, headers=analyst).json()["readings"] == []

    async def expired(storage: Storage) -> None:
        await create_grant(storage, NewGrant("eeb", "water", expires_at=now - timedelta(seconds=1)))

    _run(url, expired)
    readings = client.get("/api/v1/readings", params=params, headers=analyst).json()["readings"]
    assert readings == []

    async def current(storage: Storage) -> None:
        await create_grant(storage, NewGrant("eeb", "water", expires_at=now + timedelta(hours=1)))

    _run(url, current)
    readings = client.get("/api/v1/readings", params=params, headers=analyst).json()["readings"]
    assert [r["value"] for r in readings] == [1.0, 2.0]


def test_a_technician_reads_only_its_gateways(
    world: tuple[TestClient, dict[str, int], str],
) -> None:
    client, _, url = world
    technician = bearer(issue_key(url, "technician", "eeb", gateway_ids=["gw-a"]))
    assert client.get("/api/v1/gateways/gw-a/devices", headers=technician).status_code == 200
    assert client.get("/api/v1/gateways/gw-a2/devices", headers=technician).status_code == 404
    assert client.get("/api/v1/gateways/gw-b/latest", headers=technician).status_code == 404
    readings = client.get("/api/v1/readings", headers=technician).json()["readings"]
    assert {r["gateway"] for r in readings} == {"gw-a"}


def test_region_narrowing_and_the_tenant_filter(
    world: tuple[TestClient, dict[str, int], str],
) -> None:
    client, sites, url = world
    admin = bearer(issue_key(url))
    regional = bearer(issue_key(url, "analyst", "eeb", regions=["6102"]))
    assert client.get("/api/v1/sites", headers=regional).json() == []
    listed = client.get("/api/v1/sites", params={"region": "6101"}, headers=admin).json()
    assert [s["id"] for s in listed] == [sites["a"]]
    readings = client.get("/api/v1/readings", params={"tenant": "water"}, headers=admin).json()
    assert {r["gateway"] for r in readings["readings"]} == {"gw-b"}


def test_a_revoked_key_gets_401(world: tuple[TestClient, dict[str, int], str]) -> None:
    client, _, url = world
    token = issue_key(url, "analyst", "eeb")
    assert client.get("/api/v1/gateways", headers=bearer(token)).status_code == 200

    async def revoke(storage: Storage) -> None:
        (key,) = [k for k in await list_keys(storage) if token[4:].startswith(k.prefix)]
        await revoke_key(storage, key.id)

    _run(url, revoke)
    refused = client.get("/api/v1/gateways", headers=bearer(token))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/api/v1/gateways").status_code == 401
    assert client.get("/api/v1/gateways", headers=bearer("ssk_" + "x" * 43)).status_code == 401
