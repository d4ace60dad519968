"""Alarms as stored: listing within a key's scope, history, acknowledge, resolve by hand.

Layer: storage. An alarm belongs to a tenant and, through its gateway and site, to a
station; a key sees the alarms of its own tenant narrowed like its readings (regions,
sites, gateways). Sharing grants share readings, not alarms: another department's
alarm answers as not found, for reading and for acknowledging alike. Raising and
auto-resolving alarms is :mod:`cloud.storage.alarm_eval`. No HTTP here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.access import REGION_MATCH, Scope
from cloud.storage.pool import utc, utc_or_none
from cloud.storage.store import Storage

AlarmState = Literal["open", "acknowledged", "resolved"]
ALARM_STATES: tuple[AlarmState, ...] = ("open", "acknowledged", "resolved")
MAX_COMMENT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm and where it stands."""

    id: int
    tenant: str
    rule_id: str
    subject: str
    gateway_id: str | None
    site_id: int | None
    state: AlarmState
    severity: str
    level: str
    value: float | None
    detail: str
    late: bool
    repeats: int
    opened_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_comment: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolve_comment: str | None


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """One step of an alarm's history."""

    id: int
    alarm_id: int
    kind: str
    at: datetime
    level: str
    value: float | None
    detail: str
    late: bool
    actor: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """The caller's filters; None means any."""

    states: tuple[AlarmState, ...] = ()
    site_id: int | None = None
    gateway: str | None = None
    rule_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    severities: tuple[str, ...] = ()
    # keyset of the last alarm of the previous page: (opened_at, id), newest first
    before: tuple[datetime, int] | None = None

    def params(self) -> dict[str, Any]:
        """Parameters of :data:`_FILTER`."""
        before_at, before_id = self.before or (None, None)
        return {
            "f_severities": list(self.severities) or None,
            "f_before_at": before_at,
            "f_before_id": before_id,
            "f_states": list(self.states) or None,
            "f_site": self.site_id,
            "f_gateway": self.gateway,
            "f_rule": self.rule_id,
            "f_since": self.since,
            "f_until": self.until,
            "f_limit": self.limit,
        }


ALARM_VISIBLE = f"""(%(k_all)s OR a.tenant_id = %(k_tenant)s)
  AND (%(k_regions)s::text[] IS NULL OR {REGION_MATCH})
  AND (%(k_sites)s::bigint[] IS NULL OR a.site_id = ANY(%(k_sites)s::bigint[]))
  AND (%(k_gateways)s::text[] IS NULL OR a.gateway_id = ANY(%(k_gateways)s::text[]))"""

_FILTER = """(%(f_states)s::text[] IS NULL OR a.state = ANY(%(f_states)s::text[]))
  AND (%(f_site)s::bigint IS NULL OR a.site_id = %(f_site)s::bigint)
  AND (%(f_gateway)s::text IS NULL OR a.gateway_id = %(f_gateway)s::text)
  AND (%(f_rule)s::text IS NULL OR a.rule_id = %(f_rule)s::text)
  AND (%(f_since)s::timestamptz IS NULL OR a.opened_at >= %(f_since)s::timestamptz)
  AND (%(f_until)s::timestamptz IS NULL OR a.opened_at < %(f_until)s::timestamptz)
  AND (%(f_severities)s::text[] IS NULL OR a.severity = ANY(%(f_severities)s::text[]))
  AND (%(f_before_at)s::timestamptz IS NULL
       OR (a.opened_at, a.id) < (%(f_before_at)s::timestamptz, %(f_before_id)s::bigint))"""

_COLUMNS = """a.id, t.name, a.rule_id, a.subject, a.gateway_id, a.site_id, a.state, a.severity,
       a.level, a.value, a.detail, a.late, a.repeats, a.opened_at, a.acknowledged_at,
       a.acknowledged_by, a.ack_comment, a.resolved_at, a.resolved_by, a.resolve_comment"""

_FROM = """FROM alarms a JOIN tenants t ON t.id = a.tenant_id
LEFT JOIN sites st ON st.id = a.site_id"""

_LIST = f"""SELECT {_COLUMNS} {_FROM}
WHERE {ALARM_VISIBLE} AND {_FILTER}
ORDER BY a.opened_at DESC, a.id DESC LIMIT %(f_limit)s"""

_ONE = f"""SELECT {_COLUMNS} {_FROM} WHERE a.id = %(id)s AND {ALARM_VISIBLE} FOR UPDATE OF a"""

_EVENTS = """SELECT e.id, e.alarm_id, e.kind, e.at, e.level, e.value, e.detail, e.late, e.actor,
       e.comment FROM alarm_events e WHERE e.alarm_id = %(id)s ORDER BY e.id"""

_ACK = """UPDATE alarms SET state = 'acknowledged', acknowledged_at = now(),
    acknowledged_by = %(actor)s, ack_comment = %(comment)s WHERE id = %(id)s"""

_CLOSE = """UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = %(actor)s,
    resolve_comment = %(comment)s WHERE id = %(id)s"""

_EVENT = """INSERT INTO alarm_events (alarm_id, kind, at, level, actor, comment)
VALUES (%(id)s, %(kind)s, now(), %(level)s, %(actor)s, %(comment)s)"""


async def list_alarms(storage: Storage, scope: Scope, query: AlarmFilter) -> list[Alarm]:
    """Alarms in scope matching ``query``, newest first."""
    async with storage.connection("listing alarms") as conn:
        cursor = await conn.execute(_LIST, scope.params() | query.params())
        return [_alarm(row) for row in await cursor.fetchall()]


async def get_alarm(storage: Storage, scope: Scope, alarm_id: int) -> Alarm:
    """One alarm in scope.

    Raises:
        NotFoundError: no such alarm, or outside the scope.
    """
    async with storage.connection("reading an alarm") as conn:
        return await _one(conn, scope, alarm_id)


async def alarm_history(storage: Storage, scope: Scope, alarm_id: int) -> list[AlarmEvent]:
    """The events of one alarm in scope, oldest first.

    Raises:
        NotFoundError: no such alarm, or outside the scope.
    """
    async with storage.connection("reading an alarm's history") as conn:
        await _one(conn, scope, alarm_id)
        cursor = await conn.execute(_EVENTS, {"id": alarm_id})
        return [AlarmEvent(*row) for row in await cursor.fetchall()]


async def acknowledge(
    storage: Storage, scope: Scope, alarm_id: int, actor: str, comment: str | None = None
) -> Alarm:
    """Mark an open alarm acknowledged by ``actor`` (again: no change).

    Raises:
        NotFoundError: no such alarm, or outside the scope.
        InvalidValueError: the alarm is resolved already, or the comment is too long.
    """
    _check_comment(comment)
    async with storage.connection("acknowledging an alarm") as conn:
        alarm = await _one(conn, scope, alarm_id)
        if alarm.state == "resolved":
            raise InvalidValueError(f"alarm {alarm_id} is resolved; nothing to acknowledge")
        if alarm.state == "open":
            params = {"id": alarm_id, "actor": actor, "comment": comment}
            await conn.execute(_ACK, params)
            await conn.execute(_EVENT, params | {"kind": "ack", "level": alarm.level})
        return await _one(conn, scope, alarm_id)


async def resolve(storage: Storage, scope: Scope, alarm_id: int, actor: str, comment: str) -> Alarm:
    """Resolve an alarm by hand, with a comment saying why.

    Raises:
        NotFoundError: no such alarm, or outside the scope.
        InvalidValueError: resolved already, or no comment (or too long a one).
    """
    if not comment.strip():
        raise InvalidValueError("resolving an alarm by hand needs a comment")
    _check_comment(comment)
    async with storage.connection("resolving an alarm") as conn:
        alarm = await _one(conn, scope, alarm_id)
        if alarm.state == "resolved":
            raise InvalidValueError(f"alarm {alarm_id} is resolved already")
        params = {"id": alarm_id, "actor": actor, "comment": comment}
        await conn.execute(_CLOSE, params)
        await conn.execute(_EVENT, params | {"kind": "close", "level": ""})
        return await _one(conn, scope, alarm_id)


def _check_comment(comment: str | None) -> None:
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise InvalidValueError(f"comment: at most {MAX_COMMENT_CHARS} characters")


async def _one(conn: Any, scope: Scope, alarm_id: int) -> Alarm:
    cursor = await conn.execute(_ONE, scope.params() | {"id": alarm_id})
    row = await cursor.fetchone()
    if row is None:
        raise NotFoundError("alarm", alarm_id)
    return _alarm(row)


def _alarm(row: Sequence[Any]) -> Alarm:
    values = list(row)
    values[13] = utc(values[13])
    for index in (14, 17):
        values[index] = utc_or_none(values[index])
    return Alarm(*values)
