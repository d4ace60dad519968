"""Platform commands to HJ 212 data loggers: queued, claimed by a listener, answered.

Layer: storage (SQL only; functions over a :class:`Storage`). The operator queues a
command; the HJ 212 listener that holds the logger's connection claims it (``FOR
UPDATE SKIP LOCKED``: one listener, once), carries it out and records the answer.
A command nobody claims before it expires fails as ``expired``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg.types.json import Jsonb

from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage import audit
from cloud.storage.store import Storage

QUEUED, SENT, DONE, FAILED = "queued", "sent", "done", "failed"

_INSERT = """
INSERT INTO hj212_commands (mn, cn, value, requested_by, expires_at)
VALUES (%(mn)s, %(cn)s, %(value)s, %(actor)s, now() + %(ttl)s) RETURNING id
"""
_EXPIRE = """
UPDATE hj212_commands SET state = 'failed', finished_at = now(),
    result = '{"error": "expired: the logger was not connected to a listener"}'::jsonb
WHERE state = 'queued' AND expires_at <= now()
"""
_CLAIM = """
UPDATE hj212_commands SET state = 'sent'
WHERE id IN (
    SELECT id FROM hj212_commands
    WHERE state = 'queued' AND mn = ANY(%(mns)s) AND expires_at > now()
    ORDER BY id FOR UPDATE SKIP LOCKED
)
RETURNING id, mn, cn, value, expires_at
"""
_FINISH = """
UPDATE hj212_commands SET state = %(state)s, qn_rtn = %(qn_rtn)s, exe_rtn = %(exe_rtn)s,
    result = %(result)s, finished_at = now()
WHERE id = %(id)s
"""
_GET = """
SELECT id, mn, cn, value, state, qn_rtn, exe_rtn, result, expires_at
FROM hj212_commands WHERE id = %(id)s
"""


@dataclass(frozen=True, slots=True)
class QueuedCommand:
    """A command as stored, with its answer once it came."""

    id: int
    mn: str
    cn: str
    value: str | None
    state: str = QUEUED
    qn_rtn: int | None = None
    exe_rtn: int | None = None
    result: dict[str, Any] | None = None
    expires_at: datetime | None = None


async def queue_command(
    storage: Storage, mn: str, cn: str, value: str | None, *, ttl: timedelta, actor: str
) -> int:
    """Queue a command for logger ``mn``; return its id.

    Raises:
        InvalidValueError: a CN that is not a command, or a ``ttl`` not positive.
    """
    if cn not in ("1011", "1012", "1061", "1062"):
        raise InvalidValueError(f"CN {cn} is not a command to a logger")
    if ttl <= timedelta(0):
        raise InvalidValueError("the command must be given some time")
    params = {"mn": mn, "cn": cn, "value": value, "actor": actor[:200], "ttl": ttl}
    async with storage.connection("queuing an HJ 212 command") as conn:
        cursor = await conn.execute(_INSERT, params)
        row = await cursor.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING
    await audit.record(storage, actor, "logger_command.queue", mn, {"cn": cn, "value": value})
    return int(row[0])


async def claim_commands(storage: Storage, mns: Sequence[str]) -> list[QueuedCommand]:
    """Claim the queued commands of the connected loggers ``mns`` (expire stale ones first)."""
    async with storage.connection("claiming HJ 212 commands") as conn:
        await conn.execute(_EXPIRE)
        if not mns:
            return []
        cursor = await conn.execute(_CLAIM, {"mns": list(mns)})
        rows = await cursor.fetchall()
    return [QueuedCommand(i, mn, cn, v, SENT, expires_at=e) for i, mn, cn, v, e in rows]


async def finish_command(
    storage: Storage,
    command_id: int,
    *,
    succeeded: bool,
    qn_rtn: int | None,
    exe_rtn: int | None,
    result: dict[str, Any],
) -> None:
    """Record what came of a claimed command."""
    params = {
        "id": command_id,
        "state": DONE if succeeded else FAILED,
        "qn_rtn": qn_rtn,
        "exe_rtn": exe_rtn,
        "result": Jsonb(result),
    }
    async with storage.connection("recording an HJ 212 command's answer") as conn:
        await conn.execute(_FINISH, params)


async def get_command(storage: Storage, command_id: int) -> QueuedCommand:
    """A command and its answer so far (expired ones are marked failed first).

    Raises:
        NotFoundError: no such command.
    """
    async with storage.connection("reading an HJ 212 command") as conn:
        await conn.execute(_EXPIRE)
        cursor = await conn.execute(_GET, {"id": command_id})
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundError("command", command_id)
    return QueuedCommand(*row)
