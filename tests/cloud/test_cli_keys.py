"""``shanshui cloud key|share|site …`` against a real database; mistakes exit 2 cleanly."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from cloud.cli import app
from cloud.storage import Storage
from cloud.storage.audit import list_entries
from cloud.storage.keys import authenticate


@pytest.fixture
def runner(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    return CliRunner()


async def _key_role(url: str, token: str) -> str | None:
    async with Storage(url, max_size=1) as storage:
        key = await authenticate(storage, token)
        return None if key is None else key.role


async def _actions(url: str) -> list[str]:
    async with Storage(url, max_size=1) as storage:
        return [e.action for e in await list_entries(storage)]


def test_key_add_list_revoke(runner: CliRunner, migrated_database_url: str) -> None:
    added = runner.invoke(
        app, ["key", "add", "Li", "--role", "analyst", "--tenant", "default", "--region", "6101"]
    )
    assert added.exit_code == 0, added.output
    token = added.stdout.strip()
    assert token.startswith("ssk_")
    assert "shown only once" in added.stderr
    assert asyncio.run(_key_role(migrated_database_url, token)) == "analyst"

    listed = runner.invoke(app, ["key", "list"])
    assert token not in listed.stdout
    (line,) = listed.stdout.splitlines()
    assert "analyst" in line
    assert "regions=6101" in line
    assert "active" in line
    key_id = line.split()[0]

    assert runner.invoke(app, ["key", "revoke", key_id]).exit_code == 0
    assert asyncio.run(_key_role(migrated_database_url, token)) is None
    assert "revoked" in runner.invoke(app, ["key", "list"]).stdout
    assert asyncio.run(_actions(migrated_database_url)) == ["key.revoke", "key.create"]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["key", "add", "x", "--role", "boss", "--tenant", "default"], "role must be one of"),
        (["key", "add", "x", "--role", "analyst"], "needs a tenant"),
        (
            ["key", "add", "x", "--tenant", "nobody"],
            "no tenant 'nobody' (a tenant is created with its first station: "
            "shanshui cloud site add NAME --tenant nobody)",
        ),
        (["share", "grant", "--from", "nobody", "--to", "default"], "shanshui cloud site add"),
        (["key", "add", "x", "--role", "admin", "--expires", "1767225600"], "bare number"),
        (["key", "revoke", "999"], "no key 999"),
        (["share", "grant", "--from", "default", "--to", "default"], "itself"),
        (["share", "revoke", "5"], "no grant 5"),
        (["site", "add", "S", "--tz", "Mars/Olympus"], "not an IANA time zone"),
        (["site", "add", "S", "--lat", "30"], "latitude and longitude go together"),
        (["site", "add", "S", "--noise-zone", "5"], "noise_zone must be one of"),
        (["site", "set", "77", "--region", "610113"], "no site 77"),
        (["site", "set", "1"], "nothing to change"),
    ],
)
def test_mistakes_exit_2_with_a_message(runner: CliRunner, args: list[str], complaint: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert complaint in result.stderr
    assert "Traceback" not in result.output


def test_sites_and_grants(runner: CliRunner) -> None:
    added = runner.invoke(
        app,
        [
            "site",
            "add",
            "Weihe-1",
            "--tenant",
            "water",
            "--lat",
            "34.3",
            "--lon",
            "108.9",
            "--region",
            "610113",
            "--type",
            "surface_water",
            "--water-body",
            "Wei River",
            "--water-class",
            "III",
        ],
    )
    assert added.exit_code == 0, added.output
    site_id = added.stdout.split()[0]
    assert "water=Wei River/III" in added.stdout
    changed = runner.invoke(app, ["site", "set", site_id, "--tz", "UTC", "--clear", "water_body"])
    assert changed.exit_code == 0, changed.output
    assert "UTC" in changed.stdout
    assert "Wei River" not in changed.stdout
    assert "610113" in runner.invoke(app, ["site", "list", "--region", "6101"]).stdout

    granted = runner.invoke(
        app,
        [
            "share",
            "grant",
            "--from",
            "water",
            "--to",
            "default",
            "--quantity",
            "pm2_5",
            "--expires",
            "2030-01-01T00:00:00+08:00",
        ],
    )
    assert granted.exit_code == 0, granted.output
    assert "water -> default  pm2_5" in granted.stdout
    grant_id = granted.stdout.split()[0]
    assert runner.invoke(app, ["share", "revoke", grant_id]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["share", "list"]).stdout
