"""``POST /api/v1/ingest``: the MQTT envelope over HTTP, answered after the commit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import create_app
from cloud.api.routes.ingest import MAX_BODY_BYTES
from cloud.settings import Settings
from cloud.storage import Storage
from tests.cloud.helpers import EVER, make_batch, now_ms
from wire import sign_batch

URL = "/api/v1/ingest"


async def _register(database_url: str) -> bytes:
    async with Storage(database_url) as storage:
        return await storage.register_gateway("gw-1")


async def _stored_and_dead(database_url: str) -> tuple[int, list[str]]:
    async with Storage(database_url) as storage:
        if await storage.gateway_devices("gw-1"):
            series = await storage.readings(
                "gw-1", "th1", "air_temperature", start=EVER[0], end=EVER[1]
            )
            stored = len(series.readings)
        else:
            stored = 0
        letters = await storage.list_dead_letters()
    return stored, [d.reason for d in letters]


@pytest.fixture
def secret(migrated_database_url: str) -> bytes:
    return asyncio.run(_register(migrated_database_url))


@pytest.fixture
def client(migrated_database_url: str, secret: bytes) -> Iterator[TestClient]:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as test_client:  # no API key: the HMAC is the proof
        yield test_client


def test_a_signed_batch_is_committed_before_the_202(
    client: TestClient, secret: bytes, migrated_database_url: str
) -> None:
    payload = sign_batch(make_batch("gw-1", 7, [20.0, 21.0], start_ms=now_ms() - 5000), secret)
    response = client.post(URL, content=payload)
    assert response.status_code == 202, response.text
    assert response.json() == {"gateway": "gw-1", "seq": 7, "duplicate": False, "stored": 2}
    assert asyncio.run(_stored_and_dead(migrated_database_url)) == (2, [])
    again = client.post(URL, content=payload)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)


@pytest.mark.parametrize(
    ("body", "code", "reason"),
    [
        (sign_batch(make_batch("gw-1", 1, start_ms=now_ms()), b"w" * 32), 401, "bad_signature"),
        (b"not json", 422, "malformed"),
    ],
    ids=["wrong key", "junk"],
)
def test_refused_batches_answer_the_dead_letter_reason(
    client: TestClient, migrated_database_url: str, body: bytes, code: int, reason: str
) -> None:
    response = client.post(URL, content=body)
    assert response.status_code == code, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(f"{reason}: ")
    assert asyncio.run(_stored_and_dead(migrated_database_url))[1] == [reason]


def test_a_batch_from_the_future_is_422(client: TestClient, secret: bytes) -> None:
    payload = sign_batch(make_batch("gw-1", 1, start_ms=now_ms() + 3_600_000), secret)
    response = client.post(URL, content=payload)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("future_time: ")


def test_an_unknown_gateway_is_401(client: TestClient) -> None:
    payload = sign_batch(make_batch("gw-ghost", 1, start_ms=now_ms()), b"k" * 32)
    response = client.post(URL, content=payload)
    assert response.status_code == 401
    assert json.loads(response.text)["detail"].startswith("unknown_gateway: ")


def test_a_body_over_the_limit_is_413_unread(client: TestClient) -> None:
    response = client.post(URL, content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413


def test_a_revoked_gateway_is_answered_403_and_dead_lettered(
    client: TestClient, secret: bytes, migrated_database_url: str
) -> None:
    async def revoke() -> None:
        async with Storage(migrated_database_url, max_size=1) as storage:
            await storage.set_gateway_revoked("gw-1")

    asyncio.run(revoke())
    response = client.post(URL, content=sign_batch(make_batch("gw-1", 3), secret))
    assert response.status_code == 403, response.text
    assert response.json()["detail"].startswith("revoked: ")
    assert asyncio.run(_stored_and_dead(migrated_database_url)) == (0, ["revoked"])
