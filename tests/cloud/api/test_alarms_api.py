"""Alarms and alarm rules through the API, on a real PostgreSQL: scoping, lifecycle, CRUD."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.alarms.events import Transition
from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.alarm_contacts import claim_delivery, finish_delivery
from cloud.storage.alarm_eval import evaluation
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.alarms.helpers import T0
from tests.cloud.api.conftest import bearer, issue_key


async def _seed(url: str) -> dict[str, int]:
    async with Storage(url) as storage:
        a = await add_site(storage, "eeb", "A-1", SiteAttributes(), new_tenant=True)
        b = await add_site(storage, "water", "B-1", SiteAttributes(), new_tenant=True)
        await storage.register_gateway("gw-a", tenant="eeb", site="A-1")
        await storage.register_gateway("gw-b", tenant="water", site="B-1")
        ids: dict[str, int] = {"site_a": a.id, "site_b": b.id}
        async with evaluation(storage) as tx:
            for tenant, gw in (("eeb", "gw-a"), ("water", "gw-b")):
                tr = Transition(f"r-{gw}", tenant, f"{gw}/d1/ph", "open", T0, "warning", 9.1, "ph")
                [notice] = await tx.record([tr], {})
                ids[gw] = notice.alarm_id
        return ids


@pytest.fixture
def world(migrated_database_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    ids: dict[str, Any] = asyncio.run(_seed(migrated_database_url))
    ids["eeb"] = bearer(issue_key(migrated_database_url, "analyst", "eeb"))
    ids["water"] = bearer(issue_key(migrated_database_url, "analyst", "water"))
    ids["admin"] = bearer(issue_key(migrated_database_url))
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        yield client, ids


def test_an_analyst_never_sees_or_acknowledges_another_departments_alarms(
    world: tuple[TestClient, dict[str, Any]],
) -> None:
    client, ids = world
    listed = client.get("/api/v1/alarms", headers=ids["eeb"]).json()
    assert [a["id"] for a in listed] == [ids["gw-a"]]
    other = ids["gw-b"]
    assert client.get(f"/api/v1/alarms/{other}", headers=ids["eeb"]).status_code == 404
    assert client.get(f"/api/v1/alarms/{other}/events", headers=ids["eeb"]).status_code == 404
    ack = client.post(f"/api/v1/alarms/{other}/ack", json={}, headers=ids["eeb"])
    assert ack.status_code == 404
    done = client.post(f"/api/v1/alarms/{other}/resolve", json={"comment": "x"}, headers=ids["eeb"])
    assert done.status_code == 404
    station = client.get(f"/api/v1/sites/{ids['site_b']}/alarms", headers=ids["eeb"])
    assert station.status_code == 404
    # and the other department's alarm is untouched
    theirs = client.get(f"/api/v1/alarms/{other}", headers=ids["water"]).json()
    assert theirs["state"] == "open"
    everyone = client.get("/api/v1/alarms", headers=ids["admin"]).json()
    assert {a["id"] for a in everyone} == {ids["gw-a"], ids["gw-b"]}


def test_lifecycle_through_the_api(world: tuple[TestClient, dict[str, Any]]) -> None:
    client, ids = world
    mine, h = ids["gw-a"], ids["eeb"]
    acked = client.post(f"/api/v1/alarms/{mine}/ack", json={"comment": "seen"}, headers=h)
    assert acked.status_code == 200
    assert acked.json()["state"] == "acknowledged"
    assert acked.json()["acknowledged_by"].startswith("key:")
    no_comment = client.post(f"/api/v1/alarms/{mine}/resolve", json={"comment": ""}, headers=h)
    assert no_comment.status_code == 422
    done = client.post(f"/api/v1/alarms/{mine}/resolve", json={"comment": "fixed"}, headers=h)
    assert (done.json()["state"], done.json()["resolve_comment"]) == ("resolved", "fixed")
    events = client.get(f"/api/v1/alarms/{mine}/events", headers=h).json()
    assert [e["kind"] for e in events] == ["open", "ack", "close"]
    active = client.get("/api/v1/alarms?state=open&state=acknowledged", headers=h).json()
    assert active == []
    history = client.get(f"/api/v1/sites/{ids['site_a']}/alarms", headers=h).json()
    assert [a["id"] for a in history] == [mine]


def test_rule_crud_is_scoped_to_the_tenant(world: tuple[TestClient, dict[str, Any]]) -> None:
    client, ids = world
    rule = {"id": "ph-high", "tenant": "eeb", "kind": "threshold", "above": 8.5, "clear": 8.0}
    put = client.put("/api/v1/alarm-rules/ph-high", json=rule, headers=ids["eeb"])
    assert put.status_code == 200, put.text
    assert client.get("/api/v1/alarm-rules/ph-high", headers=ids["eeb"]).json()["clear"] == 8.0
    assert client.get("/api/v1/alarm-rules/ph-high", headers=ids["water"]).status_code == 404
    assert client.get("/api/v1/alarm-rules", headers=ids["water"]).json() == []
    theirs = client.put("/api/v1/alarm-rules/ph-high", json=rule, headers=ids["water"])
    assert theirs.status_code == 422
    bad = client.post(
        "/api/v1/alarm-rules",
        json={"rules": [rule | {"id": "x", "clear": 9.0}]},
        headers=ids["eeb"],
    )
    assert bad.status_code == 422
    assert client.delete("/api/v1/alarm-rules/ph-high", headers=ids["water"]).status_code == 404
    assert client.delete("/api/v1/alarm-rules/ph-high", headers=ids["eeb"]).status_code == 204
    assert client.get("/api/v1/alarm-rules", headers=ids["eeb"]).json() == []


def test_a_rule_naming_another_departments_station_is_refused(
    world: tuple[TestClient, dict[str, Any]],
) -> None:
    client, ids = world
    rule = {"id": "ph", "tenant": "water", "kind": "threshold", "above": 9,
            "scope": {"sites": ["A-1"], "quantities": ["water_ph", "ph"]}}  # fmt: skip
    answer = client.put("/api/v1/alarm-rules/ph", json=rule, headers=ids["water"])
    assert answer.status_code == 422
    assert answer.json()["detail"] == (
        "rule 'ph': scope.quantities[1]: unknown quantity 'ph' (see quantities.yaml); "
        "rule 'ph': scope.sites[0]: no station 'A-1' in tenant 'water'"
    )
    assert client.get("/api/v1/alarm-rules", headers=ids["water"]).json() == []
    fixed = rule | {"scope": {"sites": ["B-1"], "quantities": ["water_ph"]}}
    assert client.put("/api/v1/alarm-rules/ph", json=fixed, headers=ids["water"]).status_code == 200


def test_alarms_filter_by_severity_and_time_and_page_with_a_cursor(
    world: tuple[TestClient, dict[str, Any]], migrated_database_url: str
) -> None:
    client, ids = world

    async def more() -> list[int]:
        async with Storage(migrated_database_url) as storage, evaluation(storage) as tx:
            made = []
            for i in range(5):
                severity = "critical" if i % 2 else "info"
                tr = Transition(f"more-{i}", "eeb", f"gw-a/d{i}/ph", "open", T0 + i * 60_000,
                                severity, 9.0 + i, "ph")  # fmt: skip
                [notice] = await tx.record([tr], {f"more-{i}": severity})
                made.append(notice.alarm_id)
            return made

    made = asyncio.run(more())
    h = ids["eeb"]
    critical = client.get("/api/v1/alarms?severity=critical", headers=h).json()
    assert [a["id"] for a in critical] == [made[3], made[1]]
    naive = client.get("/api/v1/alarms?since=2026-01-01T00:00:00", headers=h)
    assert naive.status_code == 422
    assert "has no UTC offset" in naive.json()["detail"]
    seen: list[int] = []
    cursor = None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/alarms?{query}", headers=h)
        assert page.status_code == 200, page.text
        seen += [a["id"] for a in page.json()]
        cursor = page.headers.get("X-Next-Cursor")
        if cursor is None:
            break
    assert seen == [*reversed(made), ids["gw-a"]]  # newest first, each once
    bad = client.get("/api/v1/alarms?cursor=nonsense", headers=h)
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("cursor:")


def test_a_contacts_deliveries_keep_to_the_department(
    world: tuple[TestClient, dict[str, Any]], migrated_database_url: str
) -> None:
    client, ids = world
    made = client.post(
        "/api/v1/alarm-contacts",
        json={"kind": "webhook", "name": "ops", "address": "http://127.0.0.1:9/"},
        headers=ids["eeb"],
    )
    assert made.status_code == 201, made.text
    contact = made.json()["id"]

    async def dead_letter() -> None:
        async with Storage(migrated_database_url, max_size=1) as storage:
            async with storage.connection("test") as conn:
                cursor = await conn.execute(
                    "SELECT id FROM alarm_events WHERE alarm_id = %s", (ids["gw-a"],)
                )
                (event_id,) = await cursor.fetchone()  # type: ignore[misc]
            delivery = await claim_delivery(storage, contact, event_id, "sending")
            assert delivery is not None
            await finish_delivery(storage, delivery, "dead", 8, "HTTP 503")

    asyncio.run(dead_letter())
    url = f"/api/v1/alarm-contacts/{contact}/deliveries"
    [dead] = client.get(f"{url}?status=dead", headers=ids["eeb"]).json()
    assert (dead["alarm_id"], dead["status"], dead["last_error"]) == (
        ids["gw-a"],
        "dead",
        "HTTP 503",
    )
    assert client.get(f"{url}?status=sent", headers=ids["eeb"]).json() == []
    assert client.get(url, headers=ids["water"]).status_code == 404
    assert client.get(f"{url}?status=lost", headers=ids["eeb"]).status_code == 422
    again = f"/api/v1/alarm-contacts/{contact}/redeliver"
    assert client.post(again, headers=ids["water"]).status_code == 404
    assert client.post(again, headers=ids["eeb"]).json() == {"queued": 1}
    [queued] = client.get(url, headers=ids["eeb"]).json()
    assert (queued["status"], queued["attempts"]) == ("sending", 0)
