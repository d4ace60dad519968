"""``shanshui cloud alarms|rules …``: alarms and alarm rules, for the platform operator.

Layer: command line. Parses options, calls :mod:`cloud.storage` (alarms, alarm
rules) and :mod:`cloud.alarms` (rule files), and prints one line per record;
``alarms run`` runs the evaluator (:class:`cloud.alarms.worker.AlarmWorker`). The
operator acts for the platform (every tenant); acknowledgements and resolutions
are recorded as done by ``cli:<os user>``. Rule files with mistakes are refused
whole, one ``file:line: key: message`` line per mistake. No SQL here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer

from cloud import services
from cloud.alarms import RuleFileError, RuleRefusedError, RuleSet, dump_rules, load_rules
from cloud.alarms.rule_files import locate_refusal
from cloud.cli_common import EXIT_UNAVAILABLE, EXIT_USAGE, reports_errors, with_storage
from cloud.cli_keys import PLATFORM, _actor, _iso
from cloud.settings import Settings, load_settings
from cloud.storage import Storage, audit
from cloud.storage.alarm_rules import delete_rule, list_rules, put_rules
from cloud.storage.alarms import ALARM_STATES, Alarm, AlarmFilter, acknowledge, list_alarms, resolve

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 30.0  # a stopping evaluator's last checkpoint and deliveries in flight

alarms_app = typer.Typer(
    help="Alarms: the evaluator; list, acknowledge, resolve.", no_args_is_help=True
)
SEVERITIES = ("info", "warning", "critical")
rules_app = typer.Typer(help="Alarm rules: import, export, list, delete.", no_args_is_help=True)


def _alarm_line(alarm: Alarm) -> str:
    value = "-" if alarm.value is None else f"{alarm.value:g}"
    late = " late" if alarm.late else ""
    return (
        f"{alarm.id:>6}  {alarm.state:<12} {alarm.tenant:<12} {alarm.rule_id:<20} "
        f"{alarm.subject:<32} {alarm.level or '-':<8} {value:>8}  opened {_iso(alarm.opened_at)}"
        f"{late}  {alarm.detail}"
    ).rstrip()


@alarms_app.command("list")
@reports_errors
def alarms_list(  # noqa: PLR0917 - one option per filter
    state: Annotated[
        list[str] | None, typer.Option(help=f"Only these states: {', '.join(ALARM_STATES)}.")
    ] = None,
    station: Annotated[int | None, typer.Option(help="Only this site id.")] = None,
    gateway: Annotated[str | None, typer.Option(help="Only this gateway.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help=f"Only these severities: {', '.join(SEVERITIES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
) -> None:
    """Alarms of every tenant, newest first."""
    for option, names, allowed in (
        ("state", state, ALARM_STATES),
        ("severity", severity, SEVERITIES),
    ):
        for name in names or ():
            if name not in allowed:
                typer.echo(f"error: --{option}: must be one of {', '.join(allowed)}", err=True)
                raise typer.Exit(EXIT_USAGE)
    query = AlarmFilter(
        tuple(state or ()), station, gateway, rule, limit=limit,  # type: ignore[arg-type]
        severities=tuple(severity or ()),
    )  # fmt: skip
    found = with_storage(lambda storage: list_alarms(storage, PLATFORM, query))
    for alarm in found:
        typer.echo(_alarm_line(alarm))
    if not found:
        typer.echo("no alarms", err=True)


@alarms_app.command("ack")
@reports_errors
def alarms_ack(
    alarm_id: Annotated[int, typer.Argument(min=1)],
    comment: Annotated[str | None, typer.Option(help="What is being done.")] = None,
) -> None:
    """Acknowledge an open alarm."""
    alarm = with_storage(lambda s: acknowledge(s, PLATFORM, alarm_id, _actor(), comment))
    typer.echo(_alarm_line(alarm))


@alarms_app.command("resolve")
@reports_errors
def alarms_resolve(
    alarm_id: Annotated[int, typer.Argument(min=1)],
    comment: Annotated[str, typer.Option(help="Why it is resolved (required).")],
) -> None:
    """Resolve an alarm by hand."""
    alarm = with_storage(lambda s: resolve(s, PLATFORM, alarm_id, _actor(), comment))
    typer.echo(_alarm_line(alarm))


@alarms_app.command("run")
@reports_errors
def alarms_run(
    exit_with_parent: Annotated[
        bool, typer.Option(hidden=True, help="Exit when the parent process is gone.")
    ] = False,
) -> None:
    """Run the alarm evaluator: follow committed batches, record alarms, notify contacts.

    Several may run (on several hosts): one evaluates, the others stand by and take
    over when it stops. serve and ingest start one each unless
    SHANSHUI_ALARM_EVALUATOR=false. It lowers its CPU priority by
    SHANSHUI_ALARM_EVALUATOR_NICE (5): ingest comes first when CPU is short.
    """
    from cloud.ingest.gc_policy import tune_gc_for_ingest  # noqa: PLC0415 - only this command

    settings = load_settings()
    if settings.alarm_evaluator_nice:
        os.nice(settings.alarm_evaluator_nice)
    # it allocates per reading as ingest does (tuples of the feed, samples) and keeps
    # much alive (states, windows, bindings): the same collection policy
    tune_gc_for_ingest()
    with services.database(settings) as conninfo:
        asyncio.run(_run_evaluator(settings, conninfo, exit_with_parent=exit_with_parent))


async def _run_evaluator(settings: Settings, conninfo: str, *, exit_with_parent: bool) -> None:
    from cloud.alarms.notify.dispatch import notifier_from_settings  # noqa: PLC0415
    from cloud.alarms.worker import AlarmWorker  # noqa: PLC0415 - only this command

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    parent = os.getppid()
    async with Storage(conninfo, max_size=4) as storage:
        notifier = notifier_from_settings(storage, settings)
        worker = AlarmWorker(storage, notify=notifier, late_after_s=settings.alarm_late_after_s)
        await worker.start()
        typer.echo(f"alarm evaluator {worker.name} running (Ctrl-C stops)", err=True)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await stop.wait()
            if exit_with_parent and os.getppid() != parent:
                break  # the serve or ingest process that started this one is gone
        if not await stopped_within(STOP_TIMEOUT_S, worker.stop(), notifier.close()):
            # a stop that hangs (a step or a reconnect that never ends) must not leave an
            # orphan evaluating forever: what was committed is safe, as after a crash
            log.warning("alarm evaluator did not stop within %.0f s; exiting", STOP_TIMEOUT_S)
            os._exit(EXIT_UNAVAILABLE)
    typer.echo("alarm evaluator stopped", err=True)


async def stopped_within(timeout_s: float, *steps: Coroutine[Any, Any, None]) -> bool:
    """Run the stop ``steps`` in turn; False if they took longer than ``timeout_s``."""
    try:
        async with asyncio.timeout(timeout_s):
            for step in steps:
                await step
    except TimeoutError:
        for step in steps:
            step.close()  # those not started yet
        return False
    return True


@rules_app.command("import")
@reports_errors
def rules_import(
    path: Annotated[Path, typer.Argument(help="A YAML rule file (a 'rules:' list).")],
) -> None:
    """Create or replace the rules of a file, all or none.

    Rules naming a station or gateway that is not their tenant's, or an unknown
    quantity or tenant, are refused with the line that names them (they would never
    fire). Rules not in the file are left as they are.
    """
    try:
        rules = load_rules(path)
    except RuleFileError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_USAGE) from None

    async def store(storage: Storage) -> list[str]:
        ids = await put_rules(storage, PLATFORM, None, rules.rules, _actor())
        await audit.record(storage, _actor(), "alarm_rule.import", str(path), {"ids": ids})
        return ids

    try:
        ids = with_storage(store)
    except RuleRefusedError as exc:
        for problem in locate_refusal(path, exc):
            typer.echo(problem, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    typer.echo(f"imported {len(ids)} rule(s)")


@rules_app.command("export")
@reports_errors
def rules_export(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's rules.")] = None,
) -> None:
    """Print the rules as a YAML rule file that ``rules import`` reads back."""
    rules = with_storage(lambda storage: list_rules(storage, PLATFORM, tenant=tenant))
    typer.echo(dump_rules(RuleSet(rules=tuple(rules))), nl=False)


@rules_app.command("list")
@reports_errors
def rules_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's rules.")] = None,
) -> None:
    """One line per rule: id, tenant, kind, enabled, name."""
    rules = with_storage(lambda storage: list_rules(storage, PLATFORM, tenant=tenant))
    for rule in rules:
        state = "enabled" if rule.enabled else "disabled"
        typer.echo(f"{rule.id:<24} {rule.tenant:<12} {rule.kind:<12} {state:<9} {rule.name}")
    if not rules:
        typer.echo("no rules", err=True)


@rules_app.command("delete")
@reports_errors
def rules_delete(rule_id: Annotated[str, typer.Argument(help="The rule's id.")]) -> None:
    """Delete a rule; its alarms stay, as history (those still open are resolved)."""

    async def delete(storage: Storage) -> None:
        await delete_rule(storage, PLATFORM, rule_id, _actor())
        await audit.record(storage, _actor(), "alarm_rule.delete", f"rule:{rule_id}", {})

    with_storage(delete)
    typer.echo(f"deleted rule {rule_id}")
