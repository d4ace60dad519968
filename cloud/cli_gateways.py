"""``shanshui cloud gateway list | revoke | restore``: the registry seen and changed.

Layer: command line. Each change is written to the audit log by the registry
(actor ``cli:<user>``). ``add`` and ``rotate-secret``, which hand out a secret,
live in :mod:`cloud.cli` with the secret file handling. Secrets are never shown here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cloud.cli_common import actor, reports_errors, with_storage
from cloud.storage.models import GatewaySummary


def register_gateway_commands(gateway_app: typer.Typer) -> None:
    """Add ``list``, ``revoke`` and ``restore`` to ``shanshui cloud gateway``."""
    gateway_app.command("list")(reports_errors(gateway_list))
    gateway_app.command("revoke")(reports_errors(gateway_revoke))
    gateway_app.command("restore")(reports_errors(gateway_restore))


def gateway_list() -> None:
    """Every registered gateway: tenant, site, state, rotation grace, last batch."""
    gateways = with_storage(lambda storage: storage.list_gateways())
    if not gateways:
        typer.echo("no gateways")
        return
    for gateway in gateways:
        typer.echo(_line(gateway))


def gateway_revoke(
    gateway_id: Annotated[str, typer.Argument(help="A registered gateway id.")],
) -> None:
    """Revoke a gateway: its batches are dead-lettered as `revoked` until restored."""
    with_storage(lambda storage: storage.set_gateway_revoked(gateway_id, actor=actor()))
    typer.echo(f"revoked {gateway_id}", err=True)


def gateway_restore(
    gateway_id: Annotated[str, typer.Argument(help="A revoked gateway id.")],
) -> None:
    """Accept a revoked gateway's batches again (with the secret it had)."""
    with_storage(
        lambda storage: storage.set_gateway_revoked(gateway_id, revoked=False, actor=actor())
    )
    typer.echo(f"restored {gateway_id}", err=True)


def _line(gateway: GatewaySummary) -> str:
    if gateway.revoked_at is not None:
        state = f"revoked since {gateway.revoked_at.isoformat(timespec='seconds')}"
    elif gateway.disabled:
        state = "disabled"
    else:
        state = gateway.presence or "active"
    if gateway.previous_secret_until is not None:
        until = gateway.previous_secret_until.isoformat(timespec="seconds")
        state += f", old secret verifies until {until}"
    last = "-"
    if gateway.last_batch_at is not None:
        last = gateway.last_batch_at.isoformat(timespec="seconds")
    return f"{gateway.id:<24} {gateway.tenant:<16} {gateway.site or '-':<20} {last:<25} {state}"
