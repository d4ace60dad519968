"""``shanshui cloud alarms|rules …`` against a real database; mistakes exit 2 cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloud.alarms.events import Transition
from cloud.cli import app
from cloud.cli_alarms import stopped_within
from cloud.storage import Storage
from cloud.storage.access import Scope
from cloud.storage.alarm_contacts import NewContact, add_contact, claim_delivery, finish_delivery
from cloud.storage.alarm_eval import evaluation
from cloud.storage.alarms import get_alarm
from tests.cloud.alarms.helpers import T0

RULES = """\
rules:
  - id: pond-do-low
    tenant: default
    kind: threshold
    scope: {quantities: [dissolved_oxygen]}
    below: 3.0
    clear: 3.5
    for_s: 600
    severity: critical
"""


@pytest.fixture
def runner(migrated_database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", migrated_database_url)
    return CliRunner()


async def _open_alarm(url: str) -> int:
    async with Storage(url, max_size=1) as storage:
        await storage.register_gateway("gw-1")
        async with evaluation(storage) as tx:
            tr = Transition("pond-do-low", "default", "gw-1/d1/dissolved_oxygen", "open", T0,
                            "critical", 2.1, "dissolved_oxygen 2.1 below 3")  # fmt: skip
            [notice] = await tx.record([tr], {})
            return notice.alarm_id


def test_rules_import_export_list(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    imported = runner.invoke(app, ["rules", "import", str(path)])
    assert imported.exit_code == 0, imported.output
    assert "imported 1 rule" in imported.stdout
    listed = runner.invoke(app, ["rules", "list"])
    assert listed.stdout.split()[:3] == ["pond-do-low", "default", "threshold"]
    exported = runner.invoke(app, ["rules", "export"])
    again = tmp_path / "again.yaml"
    again.write_text(exported.stdout)
    assert runner.invoke(app, ["rules", "import", str(again)]).exit_code == 0
    assert "clear: 3.5" in exported.stdout


def test_rules_import_reports_file_and_line(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(RULES.replace("clear: 3.5", "clear: 2.5"))
    result = runner.invoke(app, ["rules", "import", str(path)])
    assert result.exit_code == 2
    assert "bad.yaml:7: rules[0].clear:" in result.stderr
    assert "Traceback" not in result.output
    assert runner.invoke(app, ["rules", "list"]).stdout == ""


def test_alarms_list_ack_resolve(runner: CliRunner, migrated_database_url: str) -> None:
    alarm_id = asyncio.run(_open_alarm(migrated_database_url))
    (line,) = runner.invoke(app, ["alarms", "list", "--state", "open"]).stdout.splitlines()
    assert line.split()[:2] == [str(alarm_id), "open"]
    acked = runner.invoke(app, ["alarms", "ack", str(alarm_id), "--comment", "aerator on"])
    assert acked.exit_code == 0, acked.output
    assert "acknowledged" in acked.stdout
    missing = runner.invoke(app, ["alarms", "resolve", str(alarm_id)])
    assert missing.exit_code == 2
    done = runner.invoke(app, ["alarms", "resolve", str(alarm_id), "--comment", "DO back to 6"])
    assert "resolved" in done.stdout
    unknown = runner.invoke(app, ["alarms", "ack", "999999"])
    assert unknown.exit_code == 2
    assert "no alarm 999999" in unknown.stderr
    bad_state = runner.invoke(app, ["alarms", "list", "--state", "closed"])
    assert bad_state.exit_code == 2


def test_contacts_add_list_update_rotate_delete(
    runner: CliRunner, migrated_database_url: str
) -> None:
    asyncio.run(_open_alarm(migrated_database_url))  # tenant "default" exists
    add = ["contacts", "add", "--tenant", "default", "--kind", "webhook", "--name", "ops",
           "--address", "https://ops.example.org/hook", "--quiet", "22:00-06:30"]  # fmt: skip
    added = runner.invoke(app, add)
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip()
    assert len(bytes.fromhex(secret)) == 32  # stdout: the secret alone, once
    listed = runner.invoke(app, ["contacts", "list"]).stdout
    ident = listed.split()[0]
    assert "quiet 22:00-06:30 Asia/Shanghai" in listed
    assert secret not in listed
    updated = runner.invoke(app, ["contacts", "update", ident, "--no-quiet", "--rate-per-hour",
                                  "5", "--disable"])  # fmt: skip
    assert updated.exit_code == 0, updated.output
    assert "disabled" in updated.stdout
    assert "5/h" in updated.stdout
    assert "quiet" not in updated.stdout
    rotated = runner.invoke(app, ["contacts", "rotate-secret", ident]).stdout.strip()
    assert len(rotated) == 64
    assert rotated != secret
    assert runner.invoke(app, ["contacts", "delete", ident]).exit_code == 0
    assert runner.invoke(app, ["contacts", "list"]).stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "email", "--address", "nobody"], "address"),
        (["--kind", "fax", "--address", "+8613800138000"], "kind"),
        (["--kind", "sms", "--address", "+8613800138000", "--quiet", "late"], "--quiet"),
    ],
    ids=["mailbox", "kind", "quiet"],
)
def test_contacts_add_mistakes_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["contacts", "add", "--tenant", "default", "--name", "x", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_rules_naming_what_does_not_exist_are_refused_with_their_lines(
    runner: CliRunner, tmp_path: Path, migrated_database_url: str
) -> None:
    async def station() -> None:
        async with Storage(migrated_database_url, max_size=1) as storage:
            await storage.register_gateway("gw-1", site="Pond 3")

    asyncio.run(station())
    path = tmp_path / "typos.yaml"
    path.write_text(
        RULES
        + """\
  - id: pond-3
    tenant: default
    kind: threshold
    scope:
      sites: [Pond 3, Pond 33]
      gateways: [gw-9]
      quantities: [dissolved_oxygen, do]
    below: 3
  - id: other
    tenant: fisheries
    kind: absence
    after_s: 600
"""
    )
    result = runner.invoke(app, ["rules", "import", str(path)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "typos.yaml:15: rules[1].scope.gateways[0]: no gateway 'gw-9' in tenant 'default'",
        "typos.yaml:16: rules[1].scope.quantities[1]: unknown quantity 'do' (see quantities.yaml)",
        "typos.yaml:14: rules[1].scope.sites[1]: no station 'Pond 33' in tenant 'default'",
        "typos.yaml:19: rules[2].tenant: no tenant 'fisheries'",
    ]
    assert runner.invoke(app, ["rules", "list"]).stdout == ""  # all or none
    path.write_text("rules:\n  id: a\n")
    listed = runner.invoke(app, ["rules", "import", str(path)])
    assert "typos.yaml:2: rules: Input should be a list" in listed.stderr


def test_contacts_deliveries_show_the_dead_letters(
    runner: CliRunner, migrated_database_url: str
) -> None:
    alarm_id = asyncio.run(_open_alarm(migrated_database_url))

    async def dead_letter() -> int:
        async with Storage(migrated_database_url, max_size=1) as storage:
            contact, _ = await add_contact(
                storage, NewContact("default", "ops", "webhook", "http://127.0.0.1:9/")
            )
            async with storage.connection("test") as conn:
                cursor = await conn.execute(
                    "SELECT id FROM alarm_events WHERE alarm_id = %s", (alarm_id,)
                )
                (event_id,) = await cursor.fetchone()  # type: ignore[misc]
            delivery = await claim_delivery(storage, contact.id, event_id, "sending")
            assert delivery is not None
            await finish_delivery(
                storage, delivery, "dead", 8, "ConnectError (webhook unreachable)"
            )
            return contact.id

    contact_id = asyncio.run(dead_letter())
    dead = runner.invoke(app, ["contacts", "deliveries", str(contact_id), "--status", "dead"])
    assert dead.exit_code == 0, dead.output
    (line,) = dead.stdout.splitlines()
    assert "dead" in line
    assert f"alarm {alarm_id}" in line
    assert "attempts 8" in line
    assert line.endswith("ConnectError (webhook unreachable)")
    sent = runner.invoke(app, ["contacts", "deliveries", str(contact_id), "--status", "sent"])
    assert (sent.stdout, sent.stderr.strip()) == ("", "no deliveries")
    missing = runner.invoke(app, ["contacts", "deliveries", "999"])
    assert (missing.exit_code, missing.stderr.strip()) == (2, "error: no alarm contact 999")
    bad = runner.invoke(app, ["contacts", "deliveries", str(contact_id), "--status", "lost"])
    assert bad.exit_code == 2
    assert "Traceback" not in bad.output


def test_rules_delete(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    assert runner.invoke(app, ["rules", "import", str(path)]).exit_code == 0
    deleted = runner.invoke(app, ["rules", "delete", "pond-do-low"])
    assert (deleted.exit_code, deleted.stdout) == (0, "deleted rule pond-do-low\n")
    assert runner.invoke(app, ["rules", "list"]).stdout == ""
    again = runner.invoke(app, ["rules", "delete", "pond-do-low"])
    assert (again.exit_code, again.stderr) == (2, "error: no rule 'pond-do-low'\n")


@pytest.mark.anyio
async def test_an_evaluator_whose_stop_hangs_is_told_so() -> None:
    # `alarms run` exits the hard way then: an orphan must not evaluate forever
    never = asyncio.Event()

    async def hang() -> None:
        await never.wait()

    async def done() -> None:
        return None

    assert await stopped_within(5.0, done(), done()) is True
    assert await stopped_within(0.05, hang(), done()) is False  # done() closed, not awaited


def test_deleting_a_rule_resolves_its_open_alarms(
    runner: CliRunner, tmp_path: Path, migrated_database_url: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    assert runner.invoke(app, ["rules", "import", str(path)]).exit_code == 0
    alarm_id = asyncio.run(_open_alarm(migrated_database_url))
    assert runner.invoke(app, ["rules", "delete", "pond-do-low"]).exit_code == 0
    (line,) = runner.invoke(app, ["alarms", "list"]).stdout.splitlines()
    assert line.split()[:2] == [str(alarm_id), "resolved"]

    async def closing() -> tuple[str, str]:
        async with Storage(migrated_database_url, max_size=1) as storage:
            alarm = await get_alarm(storage, Scope(None), alarm_id)
            return alarm.resolved_by or "", alarm.resolve_comment or ""

    by, comment = asyncio.run(closing())
    assert by.startswith("cli:")
    assert comment == "its rule was deleted"
