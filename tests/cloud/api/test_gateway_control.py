"""Remote configuration and commands through the real app, a real broker and a real Supervisor.

The API and ``shanshui cloud gateway push-config | cmd | rotate-secret --push``
share :mod:`cloud.gateway_control`; here the HTTP side: admins only, scoped,
audited, the gateway's signed answer back, 504 when none comes.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import SecretStr

from cloud.api import create_app
from cloud.settings import Settings
from cloud.storage import Storage, audit
from cloud.storage.keys import NewKey, create_key
from tests.cloud.api.conftest import TEST_BURST, TEST_RATE_PER_S, bearer
from tests.edge.support import supervised, write_idle_gateway
from tests.fix_broker import BrokerAddress

pytestmark = pytest.mark.e2e


async def token(storage: Storage, role: str = "admin", tenant: str | None = None) -> str:
    new = NewKey(
        name=f"test {role}",
        role=role,  # type: ignore[arg-type]
        tenant=tenant,
        rate_per_s=TEST_RATE_PER_S,
        burst=TEST_BURST,
    )
    issued, _ = await create_key(storage, new)
    return issued


@asynccontextmanager
async def api(storage: Storage, url: str, broker: BrokerAddress, root: str) -> AsyncIterator[Any]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=SecretStr(url), mqtt_url=SecretStr(broker.url), topic_root=root
    )
    app = create_app(settings, storage=storage)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


def test_push_config_commands_and_rotation_through_the_api(
    migrated_database_url: str, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gateway = f"gw-api-{secrets.token_hex(3)}"

    async def scenario() -> None:
        async with Storage(migrated_database_url) as storage:
            secret = await storage.register_gateway(gateway, tenant="eeb")
            await storage.register_gateway("gw-offline", tenant="eeb")
            await storage.register_gateway("gw-water", tenant="water")
            admin, analyst = await token(storage), await token(storage, "analyst", "eeb")
            other_admin = await token(storage, "admin", "water")
            path = write_idle_gateway(
                tmp_path, gateway, mqtt_port=mqtt_broker.port, topic_root=topic_root, secret=secret
            )
            async with (
                api(storage, migrated_database_url, mqtt_broker, topic_root) as client,
                supervised(path) as supervisor,
            ):
                base = f"/api/v1/gateways/{gateway}"
                document = yaml.safe_load(path.read_text())
                document["publish"]["status_interval_s"] = 45
                pushed = {"yaml": yaml.safe_dump(document), "version": "v9", "timeout_s": 30}

                # admins only, and only within their scope
                response = await client.post(f"{base}/config", json=pushed, headers=bearer(analyst))
                assert response.status_code == 403
                response = await client.post(
                    f"{base}/config", json=pushed, headers=bearer(other_admin)
                )
                assert response.status_code == 404
                assert supervisor.config.settings.publish.status_interval_s != 45

                response = await client.post(f"{base}/config", json=pushed, headers=bearer(admin))
                assert response.status_code == 200, response.text
                assert response.json() == {
                    "kind": "config",
                    "version": "v9",
                    "result": "applied",
                    "reason": None,
                    "id": None,
                    "cmd": None,
                    "health": None,
                }
                assert supervisor.config.settings.publish.status_interval_s == 45
                await supervisor.wait_ready(20)

                command = {"cmd": "diagnostics", "timeout_s": 30}
                response = await client.post(
                    f"{base}/commands", json=command, headers=bearer(admin)
                )
                assert response.status_code == 200, response.text
                assert response.json()["result"] == "ok"
                assert response.json()["health"]["config_version"] == "v9"

                # the gateway's own refusal is an answer; a malformed request is a 422
                command = {"cmd": "set-interval", "args": ["nope", 5], "timeout_s": 30}
                response = await client.post(
                    f"{base}/commands", json=command, headers=bearer(admin)
                )
                assert response.status_code == 200
                assert response.json()["result"] == "rejected"
                command = {"cmd": "rotate-secret", "args": ["00"]}
                response = await client.post(
                    f"{base}/commands", json=command, headers=bearer(admin)
                )
                assert response.status_code == 422
                response = await client.post(
                    f"{base}/commands", json={"cmd": "x", "extra": 1}, headers=bearer(admin)
                )
                assert response.status_code == 422

                # rotation: the answer is signed with the new secret; no secret in the response
                response = await client.post(
                    f"{base}/rotate-secret", json={"grace_hours": 1}, headers=bearer(admin)
                )
                assert response.status_code == 200, response.text
                assert response.json()["result"] == "ok"
                new = await storage.gateway_secret(gateway)
                assert new is not None
                assert new != secret
                assert supervisor.config.secret.get_secret_value() == new
                assert new.hex() not in response.text
                assert secret.hex() not in response.text
                # commands after the rotation are signed with the new secret
                command = {"cmd": "diagnostics", "timeout_s": 30}
                response = await client.post(
                    f"{base}/commands", json=command, headers=bearer(admin)
                )
                assert response.json()["result"] == "ok"

                # nobody answers for a gateway that is offline: 504, saying so
                response = await client.post(
                    "/api/v1/gateways/gw-offline/commands",
                    json={"cmd": "diagnostics", "timeout_s": 0.5},
                    headers=bearer(admin),
                )
                assert response.status_code == 504
                assert "no answer from gw-offline within 0.5s" in response.json()["detail"]

            entries = await audit.list_entries(storage, action="gateway.command")
            results = [(e.target, e.detail["cmd"], e.detail["result"]) for e in entries]
            assert (gateway, "diagnostics", "ok") in results
            assert (gateway, "rotate-secret", "ok") in results
            assert ("gw-offline", "diagnostics", "no_answer") in results
            assert all(e.actor.startswith("key:") for e in entries)
            assert all(
                "args" not in e.detail for e in entries if e.detail["cmd"] == "rotate-secret"
            )
            pushes = await audit.list_entries(storage, action="gateway.push_config")
            assert [(e.target, e.detail["version"], e.detail["result"]) for e in pushes] == [
                (gateway, "v9", "applied")
            ]

    asyncio.run(asyncio.wait_for(scenario(), 120))


def test_without_a_broker_the_api_answers_503(migrated_database_url: str) -> None:
    async def scenario() -> None:
        async with Storage(migrated_database_url) as storage:
            await storage.register_gateway("gw-1")
            admin = await token(storage)
            settings = Settings(database_url=SecretStr(migrated_database_url), mqtt_url=None)
            app = create_app(settings, storage=storage)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                response = await client.post(
                    "/api/v1/gateways/gw-1/commands",
                    json={"cmd": "diagnostics"},
                    headers=bearer(admin),
                )
            assert response.status_code == 503
            assert response.json()["detail"] == "the broker is unavailable; try again later"

    asyncio.run(scenario())


def test_the_openapi_document_describes_the_endpoints(migrated_database_url: str) -> None:
    settings = Settings(database_url=SecretStr(migrated_database_url))  # type: ignore[call-arg]
    document = create_app(settings).openapi()
    for path in ("config", "commands", "rotate-secret"):
        operation = document["paths"][f"/api/v1/gateways/{{gateway_id}}/{path}"]["post"]
        assert "504" in operation["responses"]
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/GatewayAnswer"
        }
    assert "CommandIn" in document["components"]["schemas"]
