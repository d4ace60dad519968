"""CTWing / OneNET push through the real app and PostgreSQL: 200 only after the commit."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from cloud.api import access_log, create_app
from cloud.ingest.platform_push import onenet_signature
from cloud.settings import Settings
from cloud.storage import Storage
from cloud.storage.nbiot_channels import set_channels
from tests.cloud.helpers import all_readings, make_batch, now_ms
from wire.compact import Channel, decode_compact_ack, encode_compact

TABLE = (Channel("th1", "air_temperature", 1),)
CTWING_TOKEN = "c" * 32
ONENET_TOKEN = "onenet-token-1"


async def _register(database_url: str) -> bytes:
    async with Storage(database_url) as storage:
        secret = await storage.register_gateway("gw-nb")
        await set_channels(storage, "gw-nb", TABLE, actor="test")
    return secret


async def _state(database_url: str) -> tuple[list[float], list[tuple[str, str]]]:
    async with Storage(database_url) as storage:
        try:
            values = [r.value for r in (await all_readings(storage, "gw-nb")).readings]
        except Exception:
            values = []
        letters = [(d.reason, d.source) for d in await storage.list_dead_letters()]
    return values, letters


@pytest.fixture
def secret(migrated_database_url: str) -> bytes:
    return asyncio.run(_register(migrated_database_url))


@pytest.fixture
def client(migrated_database_url: str, secret: bytes) -> Iterator[TestClient]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=SecretStr(migrated_database_url),
        ctwing_push_token=SecretStr(CTWING_TOKEN),
        onenet_push_token=SecretStr(ONENET_TOKEN),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _ctwing(frame: bytes) -> dict[str, object]:
    return {
        "messageType": "dataReport",
        "protocol": "lwm2m",
        "payload": {"APPdata": base64.b64encode(frame).decode()},
        "deviceId": "dev-1",
        "IMEI": "862592051651472",
        "timestamp": now_ms(),
    }


def test_a_ctwing_push_is_committed_before_the_200_and_answered_with_the_ack(
    client: TestClient, secret: bytes, migrated_database_url: str
) -> None:
    frame = encode_compact(make_batch("gw-nb", 3, [20.5], start_ms=now_ms() - 1000), TABLE, secret)
    url = f"/api/v1/nbiot/ctwing/{CTWING_TOKEN}"
    response = client.post(url, json=_ctwing(frame))
    assert response.status_code == 200, response.text
    (outcome,) = response.json()["frames"]
    assert (outcome["outcome"], outcome["gateway"], outcome["seq"]) == ("stored", "gw-nb", 3)
    ack = decode_compact_ack(bytes.fromhex(outcome["ack"]), secret)
    assert (ack.seq, ack.refused) == (3, False)
    assert asyncio.run(_state(migrated_database_url)) == ([20.5], [])
    again = client.post(url, json=_ctwing(frame))  # the platform's retry
    assert again.json()["frames"][0]["outcome"] == "duplicate"
    online = client.post(url, json={"messageType": "deviceOnlineOfflineReport", "eventType": 1})
    assert (online.status_code, online.json()) == (200, {"frames": []})


def test_ctwing_push_with_a_wrong_token_or_a_forged_frame(
    client: TestClient, secret: bytes, migrated_database_url: str
) -> None:
    frame = encode_compact(make_batch("gw-nb", 1, [20.5], start_ms=now_ms()), TABLE, secret)
    wrong = client.post("/api/v1/nbiot/ctwing/not-the-token", json=_ctwing(frame))
    assert wrong.status_code == 401
    forged = encode_compact(make_batch("gw-nb", 2, [99.0], start_ms=now_ms()), TABLE, b"f" * 32)
    response = client.post(f"/api/v1/nbiot/ctwing/{CTWING_TOKEN}", json=_ctwing(forged))
    assert response.status_code == 200
    (outcome,) = response.json()["frames"]
    assert (outcome["outcome"], outcome["reason"], outcome["ack"]) == (
        "dead_lettered",
        "bad_signature",
        None,
    )
    assert asyncio.run(_state(migrated_database_url)) == ([], [("bad_signature", "ctwing:dev-1")])
    broken = client.post(f"/api/v1/nbiot/ctwing/{CTWING_TOKEN}", content=b"{not json")
    assert broken.status_code == 422


def _onenet_body(msg: object, token: str = ONENET_TOKEN, nonce: str = "n0nce123") -> bytes:
    text = json.dumps(msg, separators=(",", ":"))
    signature = onenet_signature(token, nonce, text)
    return json.dumps({"msg": msg, "msg_signature": signature, "nonce": nonce}).encode()


def test_onenet_url_verification_and_signed_push(
    client: TestClient, secret: bytes, migrated_database_url: str
) -> None:
    signature = onenet_signature(ONENET_TOKEN, "abcdefgh", "verify-me")
    params = {"msg": "verify-me", "nonce": "abcdefgh", "signature": signature}
    verified = client.get("/api/v1/nbiot/onenet", params=params)
    assert (verified.status_code, verified.text) == (200, "verify-me")
    refused = client.get("/api/v1/nbiot/onenet", params={**params, "signature": "AAAA"})
    assert refused.status_code == 401

    frame = encode_compact(make_batch("gw-nb", 9, [21.5], start_ms=now_ms() - 1000), TABLE, secret)
    msg = {"at": now_ms(), "type": 1, "ds_id": "3200_0_5750", "value": frame.hex(), "imei": "8"}
    response = client.post("/api/v1/nbiot/onenet", content=_onenet_body(msg))
    assert response.status_code == 200, response.text
    assert response.json()["frames"][0]["outcome"] == "stored"
    forged = client.post("/api/v1/nbiot/onenet", content=_onenet_body(msg, token="guess"))
    assert forged.status_code == 401
    assert asyncio.run(_state(migrated_database_url)) == ([21.5], [])


def test_push_endpoints_are_off_without_their_token(migrated_database_url: str) -> None:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as off:
        assert off.post("/api/v1/nbiot/ctwing/x", json={}).status_code == 404
        assert off.post("/api/v1/nbiot/onenet", json={}).status_code == 404


def test_the_ctwing_token_never_reaches_the_access_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    # the app's lifespan has run (the client is open): log as uvicorn's access logger does
    path = f"/api/v1/nbiot/ctwing/{CTWING_TOKEN}?x=1"
    with caplog.at_level(logging.INFO, logger=access_log.ACCESS_LOGGER):
        logging.getLogger(access_log.ACCESS_LOGGER).info(
            '%s - "%s %s HTTP/%s" %d', "10.0.0.9:5000", "POST", path, "1.1", 200
        )
    (record,) = [r for r in caplog.records if r.name == access_log.ACCESS_LOGGER]
    assert CTWING_TOKEN not in record.getMessage()
    assert '"POST /api/v1/nbiot/ctwing/<redacted>?x=1 HTTP/1.1" 200' in record.getMessage()
    assert access_log.redact_path("/api/v1/readings?site=a") == "/api/v1/readings?site=a"
