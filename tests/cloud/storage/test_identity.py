"""Gateway identity on a real PostgreSQL: sealed secrets, rotation grace, revocation, audit."""

from __future__ import annotations

import base64
import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud import services
from cloud.errors import ConfigError, StorageError, UnknownGatewayError
from cloud.ingest import IngestPipeline
from cloud.ingest.pipeline import DEAD_LETTERED, STORED
from cloud.settings import load_settings
from cloud.storage import Storage
from cloud.storage.sealing import SecretKey
from tests.cloud.helpers import make_batch, telemetry_topic
from wire import sign_batch

pytestmark = pytest.mark.anyio

KEY = SecretKey.parse(SecretKey.generate_text())
TOPIC = telemetry_topic("shanshui/v1", "gw-1")


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url, max_size=2, secret_key=KEY) as opened:
        yield opened


async def _row(url: str, gateway_id: str) -> tuple[bytes, bool, bytes | None]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute(
            "SELECT secret, secret_sealed, previous_secret FROM gateways WHERE id = %s",
            (gateway_id,),
        )
        row = await cursor.fetchone()
    assert row is not None
    return bytes(row[0]), row[1], None if row[2] is None else bytes(row[2])


async def _expire_grace(url: str, gateway_id: str) -> None:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        await conn.execute(
            "UPDATE gateways SET previous_until = now() - interval '1 second' WHERE id = %s",
            (gateway_id,),
        )


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=64))
def test_a_key_in_hex_or_base64_seals_and_opens(raw: bytes, secret: bytes) -> None:
    for text in (raw.hex(), base64.b64encode(raw).decode()):
        key = SecretKey.parse(text)
        sealed = key.seal("gw-1", secret)
        assert secret not in sealed
        assert key.open("gw-1", sealed) == secret
        with pytest.raises(StorageError):
            key.open("gw-2", sealed)  # the gateway id is bound in


@pytest.mark.parametrize("text", ["", "abc", "00" * 31, base64.b64encode(b"x" * 16).decode()])
def test_a_key_of_the_wrong_size_or_form_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="32 bytes"):
        SecretKey.parse(text)


async def test_secrets_are_sealed_at_rest_and_open_with_the_key_only(
    storage: Storage, migrated_database_url: str
) -> None:
    secret = await storage.register_gateway("gw-1")
    stored, sealed, _ = await _row(migrated_database_url, "gw-1")
    assert sealed
    assert secret not in stored
    assert await storage.gateway_secret("gw-1") == secret
    other = SecretKey.parse(SecretKey.generate_text())
    async with Storage(migrated_database_url, max_size=1, secret_key=other) as wrong:
        with pytest.raises(StorageError, match="another key"):
            await wrong.gateway_secret("gw-1")
    async with Storage(migrated_database_url, max_size=1) as keyless:
        with pytest.raises(StorageError, match="SHANSHUI_SECRET_KEY"):
            await keyless.gateway_secret("gw-1")


async def test_a_plaintext_secret_is_sealed_on_first_use(
    storage: Storage, migrated_database_url: str
) -> None:
    async with Storage(migrated_database_url, max_size=1, plaintext_secrets=True) as keyless:
        secret = await keyless.register_gateway("gw-1")
    assert await _row(migrated_database_url, "gw-1") == (secret, False, None)
    assert await storage.gateway_secret("gw-1") == secret
    stored, sealed, _ = await _row(migrated_database_url, "gw-1")
    assert sealed
    assert stored != secret
    assert await storage.seal_secrets() == 0  # nothing left in plaintext


async def test_a_storage_without_a_key_refuses_to_write_a_plaintext_secret(
    storage: Storage, migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cloud.storage.secret_custody  # noqa: PLC0415 - the suite's default, switched off here

    monkeypatch.setattr(cloud.storage.secret_custody, "PLAINTEXT_SECRETS_BY_DEFAULT", False)
    async with Storage(migrated_database_url, max_size=1, plaintext_secrets=True) as opted_in:
        secret = await opted_in.register_gateway("gw-1")
    async with Storage(migrated_database_url, max_size=1) as keyless:
        with pytest.raises(ConfigError, match=r"SHANSHUI_SECRET_KEY: .* no operator key"):
            await keyless.register_gateway("gw-2")
        with pytest.raises(ConfigError, match="plaintext"):
            await keyless.rotate_secret("gw-1")
        assert await keyless.gateway_secret("gw-1") == secret  # reading needs no key
    async with Storage(migrated_database_url, max_size=1, plaintext_secrets=False) as keyless:
        with pytest.raises(ConfigError):
            await keyless.register_gateway("gw-2")
    assert [g.id for g in await storage.list_gateways()] == ["gw-1"]
    assert await storage.gateway_secret("gw-1") == secret  # the refused rotation changed nothing


async def test_after_rotation_both_secrets_verify_until_the_grace_ends(
    storage: Storage, migrated_database_url: str
) -> None:
    old = await storage.register_gateway("gw-1")
    new = await storage.rotate_secret("gw-1", grace=timedelta(hours=24))
    keys = await storage.gateway_keys("gw-1")
    assert keys is not None
    assert keys.accepted == (new, old)
    _, _, previous = await _row(migrated_database_url, "gw-1")
    assert previous is not None
    assert old not in previous  # the previous secret is sealed too

    pipeline = IngestPipeline(storage)
    by_old = await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 1), old))
    by_new = await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 2), new))
    assert (by_old.outcome, by_new.outcome) == (STORED, STORED)
    assert (by_old.secret, by_new.secret) == (old, new)  # each acked with its own secret

    await _expire_grace(migrated_database_url, "gw-1")
    late = await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 3), old))
    assert late.outcome == DEAD_LETTERED
    assert late.rejected is not None
    assert late.rejected.reason == "bad_signature"
    listed = await storage.list_gateways()
    assert listed[0].previous_secret_until is None


async def test_a_rotation_without_grace_stops_the_old_secret_at_once(storage: Storage) -> None:
    old = await storage.register_gateway("gw-1")
    new = await storage.rotate_secret("gw-1", grace=timedelta(0))
    keys = await storage.gateway_keys("gw-1")
    assert keys is not None
    assert keys.accepted == (new,)
    settled = await IngestPipeline(storage).handle(TOPIC, sign_batch(make_batch("gw-1", 1), old))
    assert settled.rejected is not None
    assert settled.rejected.reason == "bad_signature"


async def test_a_revoked_gateway_is_dead_lettered_as_revoked_until_restored(
    storage: Storage,
) -> None:
    secret = await storage.register_gateway("gw-1")
    await storage.set_gateway_revoked("gw-1")
    pipeline = IngestPipeline(storage)
    refused = await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 1), secret))
    assert refused.outcome == DEAD_LETTERED
    assert refused.rejected is not None
    assert refused.rejected.reason == "revoked"
    assert (await storage.list_dead_letters(1))[0].reason == "revoked"
    assert await storage.gateway_secret("gw-1") is None  # no acks either

    await storage.set_gateway_revoked("gw-1", revoked=False)
    again = await pipeline.handle(TOPIC, sign_batch(make_batch("gw-1", 1), secret))
    assert again.outcome == STORED
    with pytest.raises(UnknownGatewayError):
        await storage.set_gateway_revoked("nobody")


async def test_every_registry_change_is_audited(
    storage: Storage, migrated_database_url: str
) -> None:
    await storage.register_gateway("gw-1", site="Lake 1", actor="cli:ops")
    await storage.rotate_secret("gw-1", grace=timedelta(hours=2), actor="cli:ops")
    await storage.set_gateway_revoked("gw-1", actor="key:abcdefgh")
    await storage.set_gateway_revoked("gw-1", revoked=False, actor="key:abcdefgh")
    await storage.set_gateway_disabled("gw-1", actor="cli:ops")
    async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
        cursor = await conn.execute(
            "SELECT actor, action, target, detail, at IS NOT NULL FROM audit_log ORDER BY id"
        )
        rows = await cursor.fetchall()
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [
        ("cli:ops", "gateway.register", "gw-1", True),
        ("cli:ops", "gateway.rotate_secret", "gw-1", True),
        ("key:abcdefgh", "gateway.revoke", "gw-1", True),
        ("key:abcdefgh", "gateway.restore", "gw-1", True),
        ("cli:ops", "gateway.disable", "gw-1", True),
    ]
    assert rows[0][3] == {"tenant": "default", "site": "Lake 1"}
    assert rows[1][3] == {"grace_s": 7200}
    assert not any(b"secret" in repr(r[3]).encode() for r in rows)


def test_the_embedded_database_keeps_one_private_generated_key(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, database_url=None, secret_key=None)
    first = services.secret_key(settings)
    path = tmp_path / services.SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = services.secret_key(settings)
    assert again.open("gw-1", first.seal("gw-1", b"s" * 32)) == b"s" * 32
    assert [p.name for p in tmp_path.iterdir()] == [services.SECRET_KEY_FILE]
