"""``rotate-secret``: a new gateway secret delivered encrypted on ``down/cmd``.

Layer: command semantics and the secret file (filesystem); the crypto is
:mod:`wire.secret_transfer`, the transport :mod:`edge.remote_link`.

The command, signed like every command with the secret in force, carries one
argument: the new secret sealed under a key derived from that secret, bound
to this gateway and this command id. The gateway

1. opens it (a command that does not open changes nothing: ``rejected``);
2. keeps the old secret in ``<secret_file>.previous`` (0600) and writes the new
   one over ``secret_file`` (0600, temporary file, fsync, rename), so a reboot
   comes back with the new secret;
3. signs from now on with the new secret (batches, status, this command's
   answer), and still accepts acks signed with the old one, for the batches
   sent just before, until an ack signed with the new one shows the cloud has
   it: then ``.previous`` is deleted.

A secret given in ``SHANSHUI_GATEWAY_SECRET`` cannot be rotated remotely (the
answer says so). No secret, old or new, ever enters a log line or an answer.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretBytes

from edge.config import EdgeConfig
from edge.config_source import SECRET_ENV
from wire.secret_transfer import open_secret

if TYPE_CHECKING:
    from edge.remote import Supervisor

log = logging.getLogger(__name__)

PREVIOUS_SUFFIX = ".previous"
ROTATE_SECRET = NAME = "rotate-secret"  # noqa: S105 - a command's name


def secret_path(config: EdgeConfig, environ: Mapping[str, str] | None = None) -> Path | None:
    """The file the gateway secret is read from; None when it comes from the environment."""
    env = os.environ if environ is None else environ
    secret_file = config.settings.gateway.secret_file
    if env.get(SECRET_ENV) or secret_file is None:
        return None
    base = config.source.parent.resolve() if config.source is not None else Path.cwd()
    return base / secret_file


def previous_path(path: Path) -> Path:
    """Where the secret before a rotation is kept until the cloud confirms the new one."""
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def read_previous(path: Path | None) -> bytes | None:
    """The secret kept from before an unconfirmed rotation, if any (unreadable: None)."""
    if path is None:
        return None
    try:
        return bytes.fromhex(previous_path(path).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


async def rotate_secret(supervisor: Supervisor, command_id: str, args: list[Any]) -> dict[str, Any]:
    """Install the secret sealed in ``args``; the answer for ``up/cmd-ack``."""
    config = supervisor.config
    path = secret_path(config, supervisor.environ)
    if path is None:
        return _refused(f"the secret comes from {SECRET_ENV}: rotate it there")
    if len(args) != 1 or not isinstance(args[0], str):
        return _refused("usage: rotate-secret SEALED_SECRET_HEX")
    current = config.secret.get_secret_value()
    try:
        new = open_secret(bytes.fromhex(args[0]), current, config.gateway_id, command_id)
    except ValueError as exc:  # WireError included
        return _refused(f"the sealed secret does not open: {exc}")
    if new == current:
        return {"cmd": NAME, "result": "ok", "detail": "already in force"}
    try:
        write_secret(previous_path(path), current)
        write_secret(path, new)
    except OSError as exc:
        return _refused(f"cannot write {path.name}: {exc.strerror or exc}")
    supervisor.use_secret(dataclasses.replace(config, secret=SecretBytes(new)), previous=current)
    log.info("remote: new gateway secret installed; the old one is kept until the cloud confirms")
    return {"cmd": NAME, "result": "ok"}


def confirm_secret(supervisor: Supervisor, command_id: str, args: list[Any]) -> dict[str, Any]:
    """A ``rotate-secret`` signed with the secret before the rotation: a re-delivery.

    The cloud re-sends the rotation it did not hear back about (``--resume``),
    sealed under and signed with the old secret. If it carries the secret in
    force the answer (signed with it) says so; nothing changes either way.
    """
    retired = supervisor.agent.retired_secret.value if supervisor.agent is not None else None
    current = supervisor.config.secret.get_secret_value()
    if retired is None or len(args) != 1 or not isinstance(args[0], str):
        return _refused("usage: rotate-secret SEALED_SECRET_HEX")
    try:
        carried = open_secret(
            bytes.fromhex(args[0]), retired, supervisor.config.gateway_id, command_id
        )
    except ValueError as exc:  # WireError included
        return _refused(f"the sealed secret does not open: {exc}")
    if carried != current:
        return _refused("signed with the previous secret, it may only re-deliver the current one")
    return {"cmd": NAME, "result": "ok", "detail": "already in force"}


def write_secret(path: Path, secret: bytes) -> None:
    """Write ``secret`` as hex to ``path`` atomically, readable by the owner only."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(secret.hex() + "\n")
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)


def _refused(reason: str) -> dict[str, Any]:
    return {"cmd": NAME, "result": "rejected", "reason": reason}
