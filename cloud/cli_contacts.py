"""``shanshui cloud contacts …``: who is told of alarms, for the platform operator.

Layer: command line. Parses options into :mod:`cloud.alarms.contacts`' validated
shapes, calls :mod:`cloud.storage.alarm_contact_admin`, records each change in the
audit log (as ``cli:<os user>``) and prints one line per contact. A webhook's
signing secret is printed once, on stdout, by ``add`` and ``rotate-secret``, and
never again (nor in the audit log). Mistakes exit 2 with ``error: field: message``.
No SQL here.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from cloud.alarms.contacts import CONTACT_KINDS, ContactChanges, ContactIn
from cloud.cli_common import EXIT_USAGE, reports_errors, with_storage
from cloud.cli_keys import PLATFORM, _actor, _iso
from cloud.storage import Storage, audit
from cloud.storage.alarm_contact_admin import (
    ContactRecord,
    create_contact,
    delete_contact,
    get_contact,
    list_contacts,
    rotate_contact_secret,
    update_contact,
)
from cloud.storage.alarm_deliveries import (
    DELIVERY_STATUSES,
    DeliveryRecord,
    list_deliveries_in_scope,
    redeliver_dead,
)

contacts_app = typer.Typer(
    help="Alarm contacts: webhooks, e-mail, SMS; quiet hours, rate limits, escalation.",
    no_args_is_help=True,
)

Rule = Annotated[list[str] | None, typer.Option("--rule", help="Only this rule (repeatable).")]
Severity = Annotated[str | None, typer.Option(help="Least severity: info, warning, critical.")]
Quiet = Annotated[
    str | None, typer.Option(help="Quiet hours, local time: HH:MM-HH:MM (critical still sent).")
]
Zone = Annotated[str | None, typer.Option(help="Time zone of the quiet hours (Asia/Shanghai).")]
Rate = Annotated[int | None, typer.Option(help="Deliveries per hour at most.")]
EscalateTo = Annotated[int | None, typer.Option(help="Contact id told when left open.")]
EscalateAfter = Annotated[int | None, typer.Option(help="Seconds open before escalating.")]


def _line(contact: ContactRecord) -> str:
    quiet = (
        f"quiet {contact.quiet_from:%H:%M}-{contact.quiet_until:%H:%M} {contact.time_zone}"
        if contact.quiet_from is not None and contact.quiet_until is not None
        else "-"
    )
    escalate = (
        f"escalates to {contact.escalate_to} after {contact.escalate_after_s} s"
        if contact.escalate_to is not None
        else ""
    )
    state = "enabled" if contact.enabled else "disabled"
    rules = ",".join(contact.rule_ids) or "all rules"
    return (
        f"{contact.id:>5}  {contact.tenant:<12} {contact.kind:<8} {contact.name:<20} "
        f"{contact.address:<36} {state:<9} {contact.min_severity}+ {rules}  {quiet}  "
        f"{contact.rate_per_hour}/h  {escalate}"
    ).rstrip()


def _quiet(value: str | None) -> dict[str, time | None]:
    if value is None:
        return {}
    start, _, end = value.partition("-")
    try:
        return {"quiet_from": time.fromisoformat(start), "quiet_until": time.fromisoformat(end)}
    except ValueError:
        typer.echo("error: --quiet: give local times as HH:MM-HH:MM, e.g. 22:00-06:30", err=True)
        raise typer.Exit(EXIT_USAGE) from None


M = TypeVar("M", ContactIn, ContactChanges)


def _validated(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"]) or "contact"
            typer.echo(f"error: {where}: {error['msg']}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _given(**options: Any) -> dict[str, Any]:
    return {name: value for name, value in options.items() if value is not None}


@contacts_app.command("add")
@reports_errors
def contacts_add(  # noqa: PLR0917 - one option per field
    tenant: Annotated[str, typer.Option(help="The contact's tenant (department).")],
    kind: Annotated[str, typer.Option(help=f"One of {', '.join(CONTACT_KINDS)}.")],
    name: Annotated[str, typer.Option(help="Who it is, for people.")],
    address: Annotated[str, typer.Option(help="URL (webhook), mailbox (email), number (sms).")],
    rule: Rule = None,
    min_severity: Severity = None,
    quiet: Quiet = None,
    time_zone: Zone = None,
    rate_per_hour: Rate = None,
    escalate_to: EscalateTo = None,
    escalate_after_s: EscalateAfter = None,
) -> None:
    """Add a contact; a webhook's signing secret is printed once, on stdout."""
    fields = _given(
        tenant=tenant, kind=kind, name=name, address=address, rule_ids=rule,
        min_severity=min_severity, time_zone=time_zone, rate_per_hour=rate_per_hour,
        escalate_to=escalate_to, escalate_after_s=escalate_after_s,
    ) | _quiet(quiet)  # fmt: skip
    new = _validated(ContactIn, fields)

    async def add(storage: Storage) -> tuple[ContactRecord, bytes | None]:
        contact, secret = await create_contact(storage, PLATFORM, None, new)
        await audit.record(storage, _actor(), "alarm_contact.create", f"contact:{contact.id}",
                           new.model_dump(mode="json"))  # fmt: skip
        return contact, secret

    contact, secret = with_storage(add)
    typer.echo(_line(contact), err=secret is not None)
    if secret is not None:
        typer.echo(secret.hex())
        typer.echo("the webhook's signing secret above is shown only once", err=True)


@contacts_app.command("list")
@reports_errors
def contacts_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's contacts.")] = None,
) -> None:
    """One line per contact (never its secret)."""
    found = with_storage(lambda storage: list_contacts(storage, PLATFORM, tenant=tenant))
    for contact in found:
        typer.echo(_line(contact))
    if not found:
        typer.echo("no contacts", err=True)


@contacts_app.command("update")
@reports_errors
def contacts_update(  # noqa: PLR0917 - one option per field
    contact_id: Annotated[int, typer.Argument(min=1)],
    name: Annotated[str | None, typer.Option()] = None,
    address: Annotated[str | None, typer.Option()] = None,
    rule: Rule = None,
    all_rules: Annotated[bool, typer.Option(help="Hear of every rule's alarms.")] = False,
    min_severity: Severity = None,
    quiet: Quiet = None,
    no_quiet: Annotated[bool, typer.Option(help="No quiet hours.")] = False,
    time_zone: Zone = None,
    rate_per_hour: Rate = None,
    escalate_to: EscalateTo = None,
    escalate_after_s: EscalateAfter = None,
    no_escalation: Annotated[bool, typer.Option(help="Escalate to nobody.")] = False,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
) -> None:
    """Change the fields given; the others stay."""
    fields = _given(
        name=name, address=address, rule_ids=rule, min_severity=min_severity,
        time_zone=time_zone, rate_per_hour=rate_per_hour, escalate_to=escalate_to,
        escalate_after_s=escalate_after_s, enabled=enabled,
    ) | _quiet(quiet)  # fmt: skip
    if all_rules:
        fields["rule_ids"] = []
    if no_quiet:
        fields |= {"quiet_from": None, "quiet_until": None}
    if no_escalation:
        fields |= {"escalate_to": None, "escalate_after_s": None}
    changes = _validated(ContactChanges, fields)

    async def update(storage: Storage) -> ContactRecord:
        contact = await update_contact(storage, PLATFORM, contact_id, changes)
        await audit.record(storage, _actor(), "alarm_contact.update", f"contact:{contact_id}",
                           changes.model_dump(mode="json", exclude_unset=True))  # fmt: skip
        return contact

    typer.echo(_line(with_storage(update)))


@contacts_app.command("delete")
@reports_errors
def contacts_delete(contact_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Delete a contact and its delivery records."""

    async def delete(storage: Storage) -> None:
        await delete_contact(storage, PLATFORM, contact_id)
        await audit.record(storage, _actor(), "alarm_contact.delete", f"contact:{contact_id}")

    with_storage(delete)
    typer.echo(f"deleted contact {contact_id}", err=True)


@contacts_app.command("rotate-secret")
@reports_errors
def contacts_rotate_secret(contact_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Give a webhook contact a new signing secret, printed once on stdout."""

    async def rotate(storage: Storage) -> bytes:
        secret = await rotate_contact_secret(storage, PLATFORM, contact_id)
        await audit.record(storage, _actor(), "alarm_contact.rotate_secret",
                           f"contact:{contact_id}")  # fmt: skip
        return secret

    typer.echo(with_storage(rotate).hex())
    typer.echo("the webhook's new signing secret above is shown only once", err=True)


@contacts_app.command("deliveries")
@reports_errors
def contacts_deliveries(
    contact_id: Annotated[int, typer.Argument(min=1)],
    status: Annotated[
        str | None, typer.Option(help=f"Only this status: {', '.join(DELIVERY_STATUSES)}.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """What was sent to a contact, newest first; ``--status dead``: the dead letters."""
    if status is not None and status not in DELIVERY_STATUSES:
        typer.echo(f"error: --status: must be one of {', '.join(DELIVERY_STATUSES)}", err=True)
        raise typer.Exit(EXIT_USAGE)

    async def read(storage: Storage) -> list[DeliveryRecord]:
        await get_contact(storage, PLATFORM, contact_id)  # "no alarm contact N" when missing
        return await list_deliveries_in_scope(storage, PLATFORM, contact_id, status, limit)

    found = with_storage(read)
    for d in found:
        error = f"  {d.last_error}" if d.last_error else ""
        typer.echo(
            f"{d.id:>6}  {d.status:<8} event {d.event_id:<6} alarm {d.alarm_id:<6} "
            f"{d.event_kind:<9} attempts {d.attempts}  {_iso(d.created_at)}{error}"
        )
    if not found:
        typer.echo("no deliveries", err=True)


@contacts_app.command("redeliver")
@reports_errors
def contacts_redeliver(contact_id: Annotated[int, typer.Argument(min=1)]) -> None:
    """Send a contact's dead deliveries of the last day again (its receiver is back)."""

    async def queue(storage: Storage) -> int:
        await get_contact(storage, PLATFORM, contact_id)  # "no alarm contact N" when missing
        count = await redeliver_dead(storage, PLATFORM, contact_id)
        await audit.record(storage, _actor(), "alarm_contact.redeliver",
                           f"contact:{contact_id}", {"deliveries": count})  # fmt: skip
        return count

    count = with_storage(queue)
    typer.echo(
        f"{count} dead deliver{'y' if count == 1 else 'ies'} queued again: the active alarm "
        "evaluator sends them within 30 s"
    )
