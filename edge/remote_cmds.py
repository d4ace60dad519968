"""The commands a gateway accepts on ``down/cmd``, each answered on ``up/cmd-ack``.

Layer: command semantics on top of :class:`edge.remote.Supervisor`; no transport.

- ``diagnostics``: answers with the status body the agent publishes (health).
- ``poll-now``: restarts the agent in-process with the same config; a fresh
  agent polls every device at once (the outbox and its batches stay).
- ``set-interval DEVICE SECONDS``: changes that device's ``interval_s`` in
  gateway.yaml (that value only: comments and layout stay, see
  :mod:`edge.config_edit`) and applies it exactly like a pushed config (same
  validation, same rollback, written to disk once it runs).
- ``rotate-secret SEALED``: installs a new gateway secret delivered encrypted
  (see :mod:`edge.remote_secret`); the answer is signed with the new secret.
- ``resend START END``: not available: the outbox deletes a batch once the
  cloud confirmed its commit, and re-sends unconfirmed ones on its own, so
  there is nothing older to re-send; the answer says so.

Every answer is ``{"result": "ok" | "rejected" | "not_available", ...}``.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from edge.config_edit import set_device_interval
from edge.errors import ConfigError
from edge.remote_secret import NAME, rotate_secret
from edge.status import status_body

if TYPE_CHECKING:
    from edge.remote import Supervisor


async def run_command(supervisor: Supervisor, message: dict[str, Any]) -> dict[str, Any]:
    """Run the command ``message`` names; the answer for ``up/cmd-ack``."""
    name, args = message.get("cmd"), message.get("args", [])
    if not isinstance(args, list):
        return {"cmd": name, "result": "rejected", "reason": "args must be a list"}
    if name == "diagnostics":
        return _diagnostics(supervisor)
    if name == "poll-now":
        return _answer(name, await supervisor.restart())
    if name == "set-interval":
        return await _set_interval(supervisor, args)
    if name == NAME:
        return await rotate_secret(supervisor, str(message.get("id")), args)
    return _not_here(name)


def _not_here(name: object) -> dict[str, Any]:
    if name == "resend":
        return {
            "cmd": name,
            "result": "not_available",
            "reason": "the outbox keeps a batch only until the cloud confirms its commit; "
            "unconfirmed batches are re-sent on their own",
        }
    return {"cmd": name, "result": "rejected", "reason": f"unknown command {name!r}"}


def _diagnostics(supervisor: Supervisor) -> dict[str, Any]:
    agent = supervisor.agent
    if agent is None:
        return _answer("diagnostics", "no agent running")
    health = json.loads(status_body(agent.health(), int(time.time() * 1000)))
    health["config_version"] = supervisor.applied_version
    health["forged_remote"] = supervisor.forged
    return {"cmd": "diagnostics", "result": "ok", "health": health}


async def _set_interval(supervisor: Supervisor, args: list[Any]) -> dict[str, Any]:
    name = "set-interval"
    if len(args) != 2:
        return _answer(name, "usage: set-interval DEVICE SECONDS")
    device, seconds = str(args[0]), args[1]
    try:
        interval_s = float(seconds)
    except (TypeError, ValueError):
        return _answer(name, f"not a number of seconds: {seconds!r}")
    try:
        text = supervisor.path.read_text(encoding="utf-8")
        edited = set_device_interval(text, device, interval_s, supervisor.path.name)
    except (OSError, UnicodeDecodeError) as exc:
        return _answer(name, f"cannot read {supervisor.path.name}: {exc}")
    except ConfigError as exc:
        return _answer(name, str(exc))
    return _answer(name, await supervisor.apply_text(edited))


def _answer(name: str, reason: str | None) -> dict[str, Any]:
    if reason is None:
        return {"cmd": name, "result": "ok"}
    return {"cmd": name, "result": "rejected", "reason": reason}
