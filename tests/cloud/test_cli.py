"""``shanshui cloud …`` commands against a real database; mistakes exit 2 without a traceback."""

from __future__ import annotations

import asyncio
import re
import stat
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from cloud.cli import app
from cloud.storage import Storage
from cloud.storage.sealing import SecretKey

HEX_SECRET = re.compile(r"[0-9a-f]{64}")
KEY_TEXT = SecretKey.generate_text()
KEY = SecretKey.parse(KEY_TEXT)


@pytest.fixture
def runner(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("SHANSHUI_MQTT_URL", "SHANSHUI_INGEST_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("SHANSHUI_SECRET_KEY", KEY_TEXT)
    return CliRunner()


async def _secret_of(url: str, gateway_id: str) -> bytes | None:
    async with Storage(url, max_size=1, secret_key=KEY) as storage:
        return await storage.gateway_secret(gateway_id)


def test_gateway_add_prints_the_secret_once(runner: CliRunner, migrated_database_url: str) -> None:
    result = runner.invoke(app, ["gateway", "add", "gw-1", "--site", "Lake 1"])
    assert result.exit_code == 0, result.output
    printed = result.stdout.strip()
    assert HEX_SECRET.fullmatch(printed)
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) == bytes.fromhex(printed)


def test_gateway_add_writes_a_private_secret_file(
    runner: CliRunner, migrated_database_url: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "gw-1.secret"
    result = runner.invoke(app, ["gateway", "add", "gw-1", "--secret-file", str(secret_file)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    written = secret_file.read_text().strip()
    assert HEX_SECRET.fullmatch(written)
    assert written not in result.output
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) == bytes.fromhex(written)


def test_gateway_add_refuses_to_overwrite_a_secret_file(
    runner: CliRunner, migrated_database_url: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "taken"
    secret_file.write_text("keep me")
    result = runner.invoke(app, ["gateway", "add", "gw-1", "--secret-file", str(secret_file)])
    assert result.exit_code == 2
    assert "exists" in result.output
    assert secret_file.read_text() == "keep me"
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) is None


def test_gateway_add_mistakes_exit_2_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(app, ["gateway", "add", "gw-1"]).exit_code == 0
    secret_file = tmp_path / "second"

    taken = runner.invoke(app, ["gateway", "add", "gw-1", "--secret-file", str(secret_file)])
    invalid = runner.invoke(app, ["gateway", "add", "not valid!"])

    assert (taken.exit_code, invalid.exit_code) == (2, 2)
    assert "already registered" in taken.output
    assert not secret_file.exists()
    assert "must be 1-64 characters" in invalid.output
    assert "Traceback" not in taken.output + invalid.output


def test_rotate_secret_replaces_the_old_one(
    runner: CliRunner, migrated_database_url: str, tmp_path: Path
) -> None:
    first = runner.invoke(app, ["gateway", "add", "gw-1"]).stdout.strip()
    secret_file = tmp_path / "gw-1.secret"

    result = runner.invoke(
        app,
        [
            "gateway",
            "rotate-secret",
            "gw-1",
            "--secret-file",
            str(secret_file),
            "--grace-hours",
            "0",
        ],
    )

    assert result.exit_code == 0, result.output
    rotated = secret_file.read_text().strip()
    assert HEX_SECRET.fullmatch(rotated)
    assert rotated != first
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) == bytes.fromhex(rotated)


def test_rotate_secret_of_an_unknown_gateway_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    secret_file = tmp_path / "nobody.secret"
    result = runner.invoke(
        app, ["gateway", "rotate-secret", "nobody", "--secret-file", str(secret_file)]
    )
    assert result.exit_code == 2
    assert "nobody" in result.output
    assert "Traceback" not in result.output
    assert not secret_file.exists()


def test_migrate_then_up_to_date(
    database_url: str, monkeypatch: pytest.MonkeyPatch, runner: CliRunner
) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", database_url)
    first = runner.invoke(app, ["migrate"])
    again = runner.invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    assert "0001_init.sql" in first.output
    assert "up to date" in again.output


def test_dead_letters_lists_the_newest(runner: CliRunner, migrated_database_url: str) -> None:
    assert "no dead letters" in runner.invoke(app, ["dead-letters"]).output

    async def keep() -> None:
        async with Storage(migrated_database_url, max_size=1) as storage:
            await storage.dead_letter("t/gw-9/up/telemetry", "unsigned", "no sig", b"{}", "gw-9")

    asyncio.run(keep())
    result = runner.invoke(app, ["dead-letters", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "unsigned" in result.output
    assert "gw-9" in result.output


def test_bad_settings_exit_2_and_never_echo_a_password(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHANSHUI_MQTT_URL", "ftp://ops:hunter2@broker:1883")
    result = runner.invoke(app, ["dead-letters"])
    assert result.exit_code == 2
    assert "SHANSHUI_MQTT_URL" in result.output
    assert "hunter2" not in result.output


def test_an_unmigrated_database_says_to_migrate(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", database_url)  # empty: no migration ran
    result = runner.invoke(app, ["dead-letters"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        'error: listing dead letters: relation "dead_letters" does not exist '
        "(is the database migrated? run: shanshui cloud migrate)"
    )


def test_unreachable_database_exits_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", f"host={tmp_path} dbname=none connect_timeout=2")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert result.output.startswith("error:")


def test_persistent_ingest_sessions_are_refused_on_the_embedded_broker(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHANSHUI_INGEST_CLIENT_ID", "ingest-1")
    result = runner.invoke(app, ["ingest"])
    assert result.exit_code == 2
    assert "SHANSHUI_INGEST_CLIENT_ID" in result.output


def test_commands_that_touch_secrets_refuse_to_run_without_the_key(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SHANSHUI_SECRET_KEY")
    for command in (["gateway", "add", "gw-1"], ["serve"], ["ingest"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, command
        assert "SHANSHUI_SECRET_KEY is not set" in result.output
        assert "Traceback" not in result.output


def test_a_malformed_key_is_refused_without_echoing_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHANSHUI_SECRET_KEY", "not-a-key-but-a-secret-1234")
    result = runner.invoke(app, ["gateway", "add", "gw-1"])
    assert result.exit_code == 2
    assert "32 bytes" in result.output
    assert "not-a-key-but-a-secret-1234" not in result.output


def test_gateway_list_revoke_restore_and_their_audit(
    runner: CliRunner, migrated_database_url: str
) -> None:
    assert runner.invoke(app, ["gateway", "add", "gw-1", "--site", "Lake 1"]).exit_code == 0
    assert runner.invoke(app, ["gateway", "revoke", "gw-1"]).exit_code == 0
    listed = runner.invoke(app, ["gateway", "list"])
    assert listed.exit_code == 0, listed.output
    assert "gw-1" in listed.output
    assert "Lake 1" in listed.output
    assert "revoked since" in listed.output
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) is None
    assert runner.invoke(app, ["gateway", "restore", "gw-1"]).exit_code == 0
    assert "revoked" not in runner.invoke(app, ["gateway", "list"]).output
    assert asyncio.run(_secret_of(migrated_database_url, "gw-1")) is not None
    unknown = runner.invoke(app, ["gateway", "revoke", "nobody"])
    assert unknown.exit_code == 2
    assert "nobody" in unknown.output

    async def actions() -> list[tuple[str, str, str]]:
        async with await psycopg.AsyncConnection.connect(migrated_database_url) as conn:
            cursor = await conn.execute("SELECT actor, action, target FROM audit_log ORDER BY id")
            return [tuple(row) for row in await cursor.fetchall()]

    logged = asyncio.run(actions())
    assert [(action, target) for _, action, target in logged] == [
        ("gateway.register", "gw-1"),
        ("gateway.revoke", "gw-1"),
        ("gateway.restore", "gw-1"),
    ]
    assert all(who.startswith("cli:") for who, _, _ in logged)


def test_migrate_seals_plaintext_secrets(runner: CliRunner, migrated_database_url: str) -> None:
    async def plaintext_gateway() -> bytes:
        async with Storage(migrated_database_url, max_size=1) as keyless:
            return await keyless.register_gateway("gw-old")

    secret = asyncio.run(plaintext_gateway())
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "sealed 1 plaintext gateway secret" in result.output
    assert asyncio.run(_secret_of(migrated_database_url, "gw-old")) == secret
    assert "sealed" not in runner.invoke(app, ["migrate"]).output
