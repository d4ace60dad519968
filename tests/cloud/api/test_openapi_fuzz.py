"""The OpenAPI document against the running API, with schemathesis and an admin key.

Every operation of the document gets bounded, generated requests (valid and not);
no answer may be a server error, and every answer must match the document (status
documented, media type and schema as declared). Runs against a real, migrated
PostgreSQL with some readings, keys, a site and a grant in it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.grants import NewGrant, create_grant
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.api.conftest import bearer, issue_key
from tests.cloud.helpers import make_batch, now_ms

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


async def _seed(url: str) -> None:
    async with Storage(url) as storage:
        await add_site(
            storage, "default", "S-1", SiteAttributes(region_code="610113"), new_tenant=False
        )
        await add_site(storage, "other", "S-2", SiteAttributes(), new_tenant=True)
        await storage.register_gateway("gw-1", site="S-1")
        await storage.store_batch(make_batch("gw-1", 1, [1.0, 2.0, 3.0], start_ms=now_ms()), "")
        await create_grant(storage, NewGrant("other", "default", quantities=("pm2_5",)))


@pytest.fixture
def api(migrated_database_url: str) -> Iterator[tuple[TestClient, Any]]:
    asyncio.run(_seed(migrated_database_url))
    settings_ = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    token = issue_key(migrated_database_url)
    with TestClient(create_app(settings_), headers=bearer(token)) as client:
        document = client.get("/openapi.json").json()
        yield client, schemathesis.openapi.from_dict(document)


def test_openapi_document_declares_auth_problems_and_examples(
    api: tuple[TestClient, Any],
) -> None:
    client, _ = api
    document = client.get("/openapi.json").json()
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    readings = document["paths"]["/api/v1/readings"]["get"]
    assert set(readings["responses"]["401"]["content"]) == {"application/problem+json"}
    assert set(readings["responses"]["200"]["content"]) == {"application/json", "text/csv"}
    start = next(p for p in readings["parameters"] if p["name"] == "start")
    assert start["examples"]["Beijing time"]["value"] == "2026-05-01T00:00:00+08:00"


def test_no_server_error_and_no_schema_violation(api: tuple[TestClient, Any]) -> None:
    client, schema = api
    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 15
    strategy = st.one_of(
        op.as_strategy(generation_mode=mode) for op in operations for mode in GenerationMode
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION * len(operations),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=True,  # the same examples on every run: CI stays reproducible
    )
    def run(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs.pop("cookies", None)
        if isinstance(kwargs.get("data"), bytes | str):  # raw bodies: httpx calls them content
            kwargs["content"] = kwargs.pop("data")
        # the generated Authorization header is noise: every request carries the admin key
        generated = {
            k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() != "authorization"
        }
        kwargs["headers"] = generated | {"Authorization": client.headers["authorization"]}
        response = client.request(**kwargs)
        case.validate_response(response, checks=CHECKS)

    run()
