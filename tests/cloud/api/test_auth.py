"""Keys through the API: issue, revoke, roles, the dashboard's login cookie, rate limits,
the audit log. Against a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.api.auth import COOKIE_NAME
from cloud.api.ratelimit import RateLimiter
from cloud.settings import Settings
from tests.cloud.api.conftest import bearer, issue_key


@pytest.fixture
def client(migrated_database_url: str) -> Iterator[TestClient]:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_an_admin_issues_a_key_shown_once_and_revokes_it(
    client: TestClient, admin_token: str
) -> None:
    admin = bearer(admin_token)
    made = client.post(
        "/api/v1/keys",
        json={"name": "Li", "role": "analyst", "tenant": "default", "regions": ["61"]},
        headers=admin,
    )
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token.startswith("ssk_")
    listed = client.get("/api/v1/keys", headers=admin).json()
    assert token not in str(listed)
    assert [k["regions"] for k in listed if k["id"] == made.json()["id"]] == [["61"]]

    analyst = bearer(token)
    assert client.get("/api/v1/sites", headers=analyst).status_code == 200
    assert client.get("/api/v1/keys", headers=analyst).status_code == 403
    assert client.delete(f"/api/v1/keys/{made.json()['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/sites", headers=analyst).status_code == 401

    actions = [e["action"] for e in client.get("/api/v1/audit", headers=admin).json()]
    assert actions[:2] == ["key.revoke", "key.create"]


def test_a_tenant_admin_stays_in_its_tenant(client: TestClient, migrated_database_url: str) -> None:
    tenant_admin = bearer(issue_key(migrated_database_url, "admin", "default"))
    other = {"name": "x", "role": "analyst", "tenant": "elsewhere"}
    assert client.post("/api/v1/keys", json=other, headers=tenant_admin).status_code == 403
    platform = {"name": "x", "role": "admin"}
    assert client.post("/api/v1/keys", json=platform, headers=tenant_admin).status_code == 403


def test_bad_key_requests_are_problems(client: TestClient, admin_token: str) -> None:
    admin = bearer(admin_token)
    no_tenant = client.post("/api/v1/keys", json={"name": "x", "role": "analyst"}, headers=admin)
    assert no_tenant.status_code == 422
    assert "needs a tenant" in no_tenant.json()["detail"]
    unknown = client.post(
        "/api/v1/keys", json={"name": "x", "role": "analyst", "tenant": "nobody"}, headers=admin
    )
    assert unknown.status_code == 404
    typo = client.post("/api/v1/keys", json={"name": "x", "rol": "admin"}, headers=admin)
    assert typo.status_code == 422
    assert typo.headers["content-type"] == "application/problem+json"
    assert {tuple(e["loc"]) for e in typo.json()["errors"]} >= {("body", "role"), ("body", "rol")}
    # what curl sends by mistake: a body that is not JSON, and a form instead of an object
    broken = client.post(
        "/api/v1/keys", content=b"{bad", headers={**admin, "content-type": "application/json"}
    )
    assert broken.status_code == 422
    assert broken.json()["detail"] == (
        "body: not valid JSON at character 1: Expecting property name enclosed in double quotes"
    )
    form = client.post("/api/v1/keys", content=b"x=1", headers=admin)
    assert form.status_code == 422
    assert form.json()["detail"] == (
        "body: Input should be a valid dictionary or object to extract fields from"
    )


def test_the_dashboard_needs_a_key_and_the_login_cookie_gives_it(
    client: TestClient, admin_token: str
) -> None:
    away = client.get("/", follow_redirects=False)
    assert (away.status_code, away.headers["location"]) == (303, "/login")
    assert client.get("/api/v1/gateways").status_code == 401

    refused = client.post("/login", data={"key": "ssk_wrong"}, follow_redirects=False)
    assert refused.status_code == 401
    signed_in = client.post("/login", data={"key": admin_token}, follow_redirects=False)
    assert signed_in.status_code == 303
    cookie = signed_in.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()

    assert client.get("/", params={"gateway": "gw-1", "hours": "6"}).status_code == 200
    assert client.get("/api/v1/gateways").status_code == 200
    # the cookie does not authenticate changes: a page elsewhere cannot make them
    denied = client.post("/api/v1/keys", json={"name": "x", "role": "admin"})
    assert denied.status_code == 401


def test_the_rate_limit_answers_429_with_retry_after(
    client: TestClient, migrated_database_url: str
) -> None:
    token = issue_key(migrated_database_url, "analyst", "default", rate_per_s=0.01, burst=2)
    headers = bearer(token)
    assert [client.get("/api/v1/sites", headers=headers).status_code for _ in range(2)] == [
        200,
        200,
    ]
    limited = client.get("/api/v1/sites", headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == "application/problem+json"


def test_token_bucket_refills_at_its_rate() -> None:
    limiter = RateLimiter()
    assert [limiter.check(1, 2.0, 3, now_s=0.0) for _ in range(3)] == [0, 0, 0]
    assert limiter.check(1, 2.0, 3, now_s=0.0) == 1
    assert limiter.check(1, 2.0, 3, now_s=0.5) == 0  # one token after 0.5 s at 2/s
    assert limiter.check(1, 2.0, 3, now_s=0.5) == 1
    assert limiter.check(2, 2.0, 3, now_s=0.5) == 0  # buckets are per key


def test_exports_are_audited_and_sharing_keys_cannot_export(
    client: TestClient, migrated_database_url: str, admin_token: str
) -> None:
    analyst = bearer(issue_key(migrated_database_url, "analyst", "default"))
    exported = client.get("/api/v1/readings", params={"format": "csv"}, headers=analyst)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.text.splitlines()[0].startswith("time,station,gateway")
    sharing = bearer(issue_key(migrated_database_url, "sharing", "default"))
    assert (
        client.get("/api/v1/readings", headers={**sharing, "Accept": "text/csv"}).status_code == 403
    )
    (entry,) = client.get(
        "/api/v1/audit", params={"action": "readings.export"}, headers=bearer(admin_token)
    ).json()
    assert entry["actor"].startswith("key:")
