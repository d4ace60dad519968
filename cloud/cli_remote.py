"""``shanshui cloud gateway push-config | cmd``: remote configuration and commands.

Layer: command line over :mod:`cloud.remote`. The message is signed with the
gateway's current secret from the registry (so the operator key is needed);
the command waits for the gateway's signed answer on ``up/cmd-ack`` and prints
it as JSON. Exit 0 when applied/ok, 1 when the gateway refused it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cloud import services
from cloud.cli_common import reports_errors, with_storage
from cloud.errors import RemoteError
from cloud.remote import cmd_message, config_message, send_and_wait
from cloud.settings import load_settings


def register_remote_commands(gateway_app: typer.Typer) -> None:
    """Add ``push-config`` and ``cmd`` to ``shanshui cloud gateway``."""
    gateway_app.command("push-config")(reports_errors(gateway_push_config))
    gateway_app.command("cmd")(reports_errors(gateway_cmd))


def gateway_push_config(
    gateway_id: Annotated[str, typer.Argument(help="A registered gateway id.")],
    file: Annotated[Path, typer.Argument(help="The complete new gateway.yaml.")],
    version: Annotated[str | None, typer.Option(help="Version label (default: random).")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 90.0,
) -> None:
    """Push a new gateway.yaml (retained, signed); print whether the gateway applied it."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RemoteError(f"{file}: cannot read: {exc}") from None
    label, message = config_message(gateway_id, text, version)
    _round_trip(gateway_id, "config", message, ("version", label), timeout)


def gateway_cmd(
    gateway_id: Annotated[str, typer.Argument(help="A registered gateway id.")],
    name: Annotated[str, typer.Argument(help="diagnostics | poll-now | set-interval | resend")],
    args: Annotated[list[str] | None, typer.Argument(help="The command's arguments.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 30.0,
) -> None:
    """Send a signed command; print the gateway's answer."""
    command_id, message = cmd_message(name, args or [])
    _round_trip(gateway_id, "cmd", message, ("id", command_id), timeout)


def _round_trip(
    gateway_id: str, kind: str, message: bytes, match: tuple[str, str], timeout_s: float
) -> None:
    secret = with_storage(lambda storage: storage.gateway_secret(gateway_id), sealing=True)
    if secret is None:
        raise RemoteError(f"gateway {gateway_id!r} is unknown, disabled or revoked")
    settings = load_settings()
    with services.broker(settings) as endpoint:
        answer: dict[str, Any] = asyncio.run(
            send_and_wait(
                endpoint,
                settings.topic_root,
                gateway_id,
                kind,
                message,
                secret,
                timeout_s=timeout_s,
                match=match,
            )
        )
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    if answer.get("result") not in {"applied", "ok"}:
        raise typer.Exit(1)
