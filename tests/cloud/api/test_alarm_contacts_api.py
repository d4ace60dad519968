"""Alarm contacts through the API, on a real PostgreSQL: scoping, secrets shown once, audit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.audit import list_entries
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.api.conftest import bearer, issue_key

URL = "/api/v1/alarm-contacts"
HOOK = {"kind": "webhook", "name": "ops", "address": "https://ops.example.org/hook"}


async def _seed(url: str) -> None:
    async with Storage(url) as storage:
        await add_site(storage, "eeb", "A-1", SiteAttributes(), new_tenant=True)
        await add_site(storage, "water", "B-1", SiteAttributes(), new_tenant=True)


async def _audit(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    async with Storage(url) as storage:
        entries = await list_entries(storage, limit=100)
    return [(e.action, e.target, e.detail) for e in reversed(entries)]


@pytest.fixture
def world(migrated_database_url: str) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    asyncio.run(_seed(migrated_database_url))
    keys = {
        "eeb": bearer(issue_key(migrated_database_url, "analyst", "eeb")),
        "eeb-tech": bearer(issue_key(migrated_database_url, "technician", "eeb")),
        "water": bearer(issue_key(migrated_database_url, "analyst", "water")),
        "admin": bearer(issue_key(migrated_database_url)),
    }
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        yield client, keys


def test_a_department_manages_its_contacts_and_never_sees_anothers(
    world: tuple[TestClient, dict[str, Any]], migrated_database_url: str
) -> None:
    client, keys = world
    made = client.post(URL, json=HOOK | {"quiet_from": "22:00", "quiet_until": "06:30"},
                       headers=keys["eeb"])  # fmt: skip
    assert made.status_code == 201, made.text
    created = made.json()
    secret = created["secret"]
    assert len(bytes.fromhex(secret)) == 32
    assert (created["tenant"], created["has_secret"], created["quiet_until"]) == (
        "eeb", True, "06:30:00",
    )  # fmt: skip
    ident = created["id"]
    # the secret is never shown again: not listed, not read, not in the audit log
    listed = client.get(URL, headers=keys["eeb"]).json()
    assert [c["id"] for c in listed] == [ident]
    assert "secret" not in listed[0]
    assert secret not in client.get(f"{URL}/{ident}", headers=keys["eeb"]).text
    # another department: as if it did not exist
    assert client.get(URL, headers=keys["water"]).json() == []
    for method, path, body in (
        ("GET", f"{URL}/{ident}", None),
        ("PATCH", f"{URL}/{ident}", {"enabled": False}),
        ("POST", f"{URL}/{ident}/rotate-secret", None),
        ("DELETE", f"{URL}/{ident}", None),
    ):
        answer = client.request(method, path, json=body, headers=keys["water"])
        assert answer.status_code == 404, (method, path)
    # a technician reads but does not change
    assert client.get(URL, headers=keys["eeb-tech"]).status_code == 200
    assert client.post(URL, json=HOOK, headers=keys["eeb-tech"]).status_code == 403
    assert [c["id"] for c in client.get(URL, headers=keys["admin"]).json()] == [ident]
    # changes, a new secret, deletion: each audited, without the secret
    change = {"rate_per_hour": 5, "quiet_from": None, "quiet_until": None}
    changed = client.patch(f"{URL}/{ident}", json=change, headers=keys["eeb"])
    assert changed.status_code == 200, changed.text
    assert (changed.json()["rate_per_hour"], changed.json()["quiet_from"]) == (5, None)
    rotated = client.post(f"{URL}/{ident}/rotate-secret", headers=keys["eeb"]).json()["secret"]
    assert rotated != secret
    assert client.delete(f"{URL}/{ident}", headers=keys["eeb"]).status_code == 204
    assert client.get(f"{URL}/{ident}", headers=keys["eeb"]).status_code == 404
    trail = asyncio.run(_audit(migrated_database_url))
    assert [(a, t) for a, t, _ in trail if a.startswith("alarm_contact")] == [
        ("alarm_contact.create", f"contact:{ident}"),
        ("alarm_contact.update", f"contact:{ident}"),
        ("alarm_contact.rotate_secret", f"contact:{ident}"),
        ("alarm_contact.delete", f"contact:{ident}"),
    ]
    text = json.dumps(trail)
    assert secret not in text
    assert rotated not in text


@pytest.mark.parametrize(
    ("body", "mistake"),
    [
        ({"kind": "webhook", "name": "x", "address": "ftp://example.org/"}, "http:// or https://"),
        ({"kind": "email", "name": "x", "address": "not-a-mailbox"}, "mailbox"),
        ({"kind": "sms", "name": "x", "address": "call me"}, "address"),
        (HOOK | {"quiet_from": "22:00"}, "quiet_until"),
        (HOOK | {"time_zone": "Mars/Olympus"}, "unknown time zone"),
        (HOOK | {"escalate_to": 1}, "escalate_after_s"),
        (HOOK | {"tenant": "water"}, "tenant"),
        (HOOK | {"secret": "00" * 32}, "secret"),
    ],
    ids=["url", "mailbox", "number", "quiet pair", "zone", "escalation pair", "tenant", "secret"],
)
def test_mistakes_are_refused_with_the_field(
    world: tuple[TestClient, dict[str, Any]], body: dict[str, Any], mistake: str
) -> None:
    client, keys = world
    answer = client.post(URL, json=body, headers=keys["eeb"])
    assert answer.status_code == 422, answer.text
    assert mistake in answer.text


def test_escalation_stays_within_the_department(world: tuple[TestClient, dict[str, Any]]) -> None:
    client, keys = world
    theirs = client.post(URL, json=HOOK, headers=keys["water"]).json()["id"]
    first = client.post(URL, json=HOOK | {"name": "duty"}, headers=keys["eeb"]).json()["id"]
    across = {"escalate_to": theirs, "escalate_after_s": 600}
    assert client.patch(f"{URL}/{first}", json=across, headers=keys["eeb"]).status_code == 422
    sms = {"kind": "sms", "name": "chief", "address": "+8613800138000"}
    boss = client.post(URL, json=sms, headers=keys["eeb"]).json()["id"]
    chain = {"escalate_to": boss, "escalate_after_s": 600}
    escalated = client.patch(f"{URL}/{first}", json=chain, headers=keys["eeb"])
    assert escalated.status_code == 200, escalated.text
    assert escalated.json()["escalate_to"] == boss
    # the escalation target cannot go while another contact points at it
    assert client.delete(f"{URL}/{boss}", headers=keys["eeb"]).status_code == 422
    removed = {"escalate_to": None, "escalate_after_s": None}
    assert client.patch(f"{URL}/{first}", json=removed, headers=keys["eeb"]).status_code == 200
    assert client.delete(f"{URL}/{boss}", headers=keys["eeb"]).status_code == 204
