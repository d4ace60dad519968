"""``shanshui cloud gateway push-config | cmd | rotate-secret --push``: remote control.

Layer: command line over :mod:`cloud.gateway_control` (the API's code path too).
The message is signed with the gateway's current secret from the registry (so
the operator key is needed); the command waits for the gateway's signed answer
on ``up/cmd-ack`` and prints it as JSON (never a secret). Exit 0 when
applied/ok, 1 when the gateway refused it or did not answer, 2 for a mistake.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from cloud import services
from cloud.cli_common import actor, reports_errors, with_storage
from cloud.errors import RemoteError
from cloud.gateway_control import (
    OK_RESULTS,
    Broker,
    push_config,
    resume_rotation,
    rotate_secret_and_push,
    send_command,
)
from cloud.settings import load_settings
from cloud.storage import Storage


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
    _run(
        lambda storage, broker: push_config(
            storage, broker, gateway_id, text, version, timeout_s=timeout, actor=actor()
        )
    )


def gateway_cmd(
    gateway_id: Annotated[str, typer.Argument(help="A registered gateway id.")],
    name: Annotated[str, typer.Argument(help="diagnostics | poll-now | set-interval | resend")],
    args: Annotated[list[str] | None, typer.Argument(help="The command's arguments.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 30.0,
) -> None:
    """Send a signed command; print the gateway's answer."""
    _run(
        lambda storage, broker: send_command(
            storage, broker, gateway_id, name, args or [], timeout_s=timeout, actor=actor()
        )
    )


def rotate_and_push(gateway_id: str, grace_hours: float, timeout_s: float, resume: bool) -> None:
    """``gateway rotate-secret GATEWAY --push``: rotate, deliver encrypted, print the answer.

    ``resume``: no new secret; deliver the pending rotation's secret again.
    """
    if resume:
        _run(
            lambda storage, broker: resume_rotation(
                storage, broker, gateway_id, timeout_s=timeout_s, actor=actor()
            )
        )
        return
    _run(
        lambda storage, broker: rotate_secret_and_push(
            storage,
            broker,
            gateway_id,
            grace=timedelta(hours=grace_hours),
            timeout_s=timeout_s,
            actor=actor(),
        )
    )


def _run(operation: Callable[[Storage, Broker], Awaitable[dict[str, Any]]]) -> None:
    """Run ``operation`` against the registry and the broker; print its answer as JSON."""
    settings = load_settings()
    with services.broker(settings) as endpoint:
        broker = Broker(endpoint, settings.topic_root)
        answer = with_storage(lambda storage: operation(storage, broker), sealing=True)
    typer.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    if answer.get("result") not in OK_RESULTS:
        raise typer.Exit(1)
