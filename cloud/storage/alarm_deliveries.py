"""Alarm deliveries after the first try: resuming stalled ones, the record people read.

Layer: storage. A delivery row is claimed ``sending`` before its first attempt
(:mod:`cloud.storage.alarm_contacts`); a notifier that dies between two attempts
(kill -9, a host lost, a stop while retrying) leaves it so. :func:`resume_stalled`
hands such rows to the active notifier once they have not moved for longer than a
live notifier waits between attempts, and gives up (``dead``) on those older than a
day. :func:`list_deliveries_in_scope` is the dead-letter record as a department sees
it; :func:`redeliver_dead` queues a contact's dead letters of the last day again (once
its receiver is back), for the active notifier to take up at its next tick.
:func:`alarm_context` is what a message says besides the event: the station's
name and time zone, the rule's name. No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloud.storage.access import Scope
from cloud.storage.alarm_eval import Notice
from cloud.storage.store import Storage

DELIVERY_STATUSES = ("sending", "sent", "dead", "quiet", "limited")
GIVE_UP_AFTER = "1 day"

_GIVE_UP = f"""UPDATE alarm_deliveries SET status = 'dead', done_at = now(), updated_at = now(),
    last_error = coalesce(last_error || '; ', '') || 'no notifier took it up within {GIVE_UP_AFTER}'
WHERE status = 'sending' AND created_at < now() - interval '{GIVE_UP_AFTER}'"""  # noqa: S608

_RESUME = """
WITH taken AS (
    UPDATE alarm_deliveries d SET updated_at = now()
    WHERE d.status = 'sending' AND d.updated_at < now() - make_interval(secs => %(stale_s)s)
    RETURNING d.id, d.contact_id, d.event_id, d.attempts
)
SELECT taken.id, taken.contact_id, taken.attempts,
       e.id, a.id, t.name, a.rule_id, a.subject, e.kind,
       (extract(epoch FROM e.at) * 1000)::bigint, e.level, e.value, e.detail, e.late,
       a.site_id, a.gateway_id,
       CASE WHEN e.kind = 'escalate' THEN 'critical' ELSE a.severity END
FROM taken JOIN alarm_events e ON e.id = taken.event_id JOIN alarms a ON a.id = e.alarm_id
JOIN tenants t ON t.id = a.tenant_id
ORDER BY e.id, taken.contact_id
"""

_LIST = """
SELECT d.id, d.contact_id, d.event_id, e.alarm_id, e.kind, d.status, d.attempts, d.last_error,
       d.created_at, d.done_at
FROM alarm_deliveries d JOIN alarm_contacts c ON c.id = d.contact_id
JOIN alarm_events e ON e.id = d.event_id
WHERE d.contact_id = %(contact)s AND (%(k_all)s OR c.tenant_id = %(k_tenant)s)
  AND (%(status)s::text IS NULL OR d.status = %(status)s::text)
ORDER BY d.id DESC LIMIT %(limit)s
"""

_REDELIVER = f"""
UPDATE alarm_deliveries d SET status = 'sending', attempts = 0, done_at = NULL,
    updated_at = 'epoch'
FROM alarm_contacts c
WHERE c.id = d.contact_id AND d.contact_id = %(contact)s AND d.status = 'dead'
  AND (%(k_all)s OR c.tenant_id = %(k_tenant)s)
  AND d.created_at > now() - interval '{GIVE_UP_AFTER}'
RETURNING d.id
"""  # noqa: S608 - composed of this module's constants only

_CONTEXT = """
SELECT s.name, coalesce(s.time_zone, 'Asia/Shanghai'), coalesce(r.body ->> 'name', '')
FROM alarms a LEFT JOIN sites s ON s.id = a.site_id LEFT JOIN alarm_rules r ON r.id = a.rule_id
WHERE a.id = %(alarm)s
"""


@dataclass(frozen=True, slots=True)
class Stalled:
    """A delivery to take up again: after ``attempts`` tries, of ``notice`` to a contact."""

    delivery_id: int
    contact_id: int
    attempts: int
    notice: Notice
    severity: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """One delivery as people read it."""

    id: int
    contact_id: int
    event_id: int
    alarm_id: int
    event_kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    done_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlarmContext:
    """What a message names besides the event itself."""

    station: str | None
    time_zone: str
    rule_name: str


async def resume_stalled(storage: Storage, stale_s: float) -> list[Stalled]:
    """Deliveries left ``sending`` and unmoved for ``stale_s``, taken up (oldest event first);
    those older than a day are given up as ``dead`` instead."""
    async with storage.connection("resuming stalled alarm deliveries") as conn:
        await conn.execute(_GIVE_UP)
        cursor = await conn.execute(_RESUME, {"stale_s": stale_s})
        rows = await cursor.fetchall()
    return [Stalled(row[0], row[1], row[2], Notice(*row[3:16]), row[16]) for row in rows]


async def list_deliveries_in_scope(
    storage: Storage, scope: Scope, contact_id: int, status: str | None = None, limit: int = 100
) -> list[DeliveryRecord]:
    """A contact's deliveries, newest first (empty for another tenant's contact)."""
    params: dict[str, Any] = scope.params() | {
        "contact": contact_id, "status": status, "limit": limit,
    }  # fmt: skip
    async with storage.connection("listing alarm deliveries") as conn:
        cursor = await conn.execute(_LIST, params)
        return [DeliveryRecord(*row) for row in await cursor.fetchall()]


async def redeliver_dead(storage: Storage, scope: Scope, contact_id: int) -> int:
    """Queue a contact's dead deliveries of the last day again; how many (0 for another
    tenant's contact)."""
    params: dict[str, Any] = scope.params() | {"contact": contact_id}
    async with storage.connection("queueing dead alarm deliveries again") as conn:
        cursor = await conn.execute(_REDELIVER, params)
        return len(await cursor.fetchall())


async def alarm_context(storage: Storage, alarm_id: int) -> AlarmContext:
    """The station's name and time zone and the rule's name of an alarm (defaults if gone)."""
    async with storage.connection("describing an alarm") as conn:
        cursor = await conn.execute(_CONTEXT, {"alarm": alarm_id})
        row = await cursor.fetchone()
    if row is None:
        return AlarmContext(None, "Asia/Shanghai", "")
    return AlarmContext(row[0], row[1], row[2])
