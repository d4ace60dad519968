"""Alarm contacts and deliveries: who hears of which alarm, and each attempt to tell them.

Layer: storage. A delivery row is unique per (contact, event): claiming it is how
a notifier makes sure an event reaches a contact once, whichever worker sends it.
A delivery whose retries ran out stays as ``dead`` with its last error (the
dead-letter record). Escalations are claimed atomically too (``escalated_at``).
Webhook secrets are created here and returned once; they are never logged.
No HTTP, SMTP or timing here: :mod:`cloud.alarms.notify` sends.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any, Literal

from cloud.errors import InvalidValueError
from cloud.storage.alarm_eval import Notice
from cloud.storage.store import Storage

ContactKind = Literal["webhook", "email", "sms"]
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact to add."""

    tenant: str
    name: str
    kind: ContactKind
    address: str
    rule_ids: Sequence[str] = ()
    min_severity: str = "info"
    quiet_from: time | None = None
    quiet_until: time | None = None
    time_zone: str = "Asia/Shanghai"
    rate_per_hour: int = 60
    escalate_to: int | None = None
    escalate_after_s: int | None = None


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact as stored (with its secret: storage's callers never log it)."""

    id: int
    tenant_id: int
    name: str
    kind: ContactKind
    address: str
    secret: bytes | None
    quiet_from: time | None
    quiet_until: time | None
    time_zone: str
    rate_per_hour: int

    def __repr__(self) -> str:
        return f"Contact(id={self.id}, kind={self.kind!r}, name={self.name!r})"


_COLUMNS = """c.id, c.tenant_id, c.name, c.kind, c.address, c.secret, c.quiet_from,
       c.quiet_until, c.time_zone, c.rate_per_hour"""

_INSERT = f"""
WITH c AS (
    INSERT INTO alarm_contacts (tenant_id, name, kind, address, secret, rule_ids, min_severity,
                                quiet_from, quiet_until, time_zone, rate_per_hour, escalate_to,
                                escalate_after_s)
    SELECT t.id, %(name)s, %(kind)s, %(address)s, %(secret)s, %(rule_ids)s, %(min_severity)s,
           %(quiet_from)s, %(quiet_until)s, %(time_zone)s, %(rate_per_hour)s, %(escalate_to)s,
           %(escalate_after_s)s
    FROM tenants t WHERE t.name = %(tenant)s
    RETURNING *
)
SELECT {_COLUMNS} FROM c
"""  # noqa: S608 - composed of this module's constants only

_SEVERITY_RANK = "array_position(ARRAY['info', 'warning', 'critical'], {})"

_FOR_EVENT = f"""
SELECT {_COLUMNS}, a.severity FROM alarm_events e
JOIN alarms a ON a.id = e.alarm_id
JOIN alarm_contacts c ON c.tenant_id = a.tenant_id
WHERE e.id = %(event)s AND c.enabled
  AND (cardinality(c.rule_ids) = 0 OR a.rule_id = ANY(c.rule_ids))
  AND {_SEVERITY_RANK.format("a.severity")} >= {_SEVERITY_RANK.format("c.min_severity")}
ORDER BY c.id
"""  # noqa: S608 - composed of this module's constants only

_CLAIM = """
INSERT INTO alarm_deliveries (contact_id, event_id, status, done_at)
VALUES (%(contact)s, %(event)s, %(status)s,
        CASE WHEN %(status)s = 'sending' THEN NULL ELSE now() END)
ON CONFLICT (contact_id, event_id) DO NOTHING
RETURNING id
"""

_SENT_LAST_HOUR = """SELECT count(*) FROM alarm_deliveries
WHERE contact_id = %(contact)s AND status IN ('sending', 'sent')
  AND created_at > now() - interval '1 hour'"""

_FINISH = """UPDATE alarm_deliveries SET status = %(status)s, attempts = %(attempts)s,
    last_error = %(error)s, updated_at = now(),
    done_at = CASE WHEN %(status)s = 'sending' THEN NULL ELSE now() END
WHERE id = %(id)s"""

_ESCALATE = f"""
WITH due AS (
    SELECT a.id AS alarm_id, c.escalate_to AS contact_id FROM alarms a
    JOIN alarm_contacts c ON c.tenant_id = a.tenant_id
    JOIN alarm_contacts target ON target.id = c.escalate_to AND target.enabled
    WHERE a.state = 'open' AND a.escalated_at IS NULL AND NOT a.late AND c.enabled
      AND (cardinality(c.rule_ids) = 0 OR a.rule_id = ANY(c.rule_ids))
      AND {_SEVERITY_RANK.format("a.severity")} >= {_SEVERITY_RANK.format("c.min_severity")}
      AND a.recorded_at < now() - make_interval(secs => c.escalate_after_s)
    FOR UPDATE OF a SKIP LOCKED
), marked AS (
    UPDATE alarms a SET escalated_at = now() FROM (SELECT DISTINCT alarm_id FROM due) d
    WHERE a.id = d.alarm_id
    RETURNING a.*
), ev AS (
    INSERT INTO alarm_events (alarm_id, kind, at, level, value, detail)
    SELECT m.id, 'escalate', now(), m.level, m.value, m.detail FROM marked m
    RETURNING id, alarm_id, at
), delivery AS (
    -- claimed with the escalation: a crash before sending leaves a row to resume
    INSERT INTO alarm_deliveries (contact_id, event_id, status)
    SELECT DISTINCT due.contact_id, ev.id, 'sending' FROM ev JOIN due ON due.alarm_id = ev.alarm_id
    ON CONFLICT (contact_id, event_id) DO NOTHING
    RETURNING id, contact_id, event_id
)
SELECT ev.id, m.id, t.name, m.rule_id, m.subject, m.level, m.value, m.detail, m.site_id,
       m.gateway_id, (extract(epoch FROM ev.at) * 1000)::bigint, delivery.contact_id, delivery.id
FROM delivery JOIN ev ON ev.id = delivery.event_id JOIN marked m ON m.id = ev.alarm_id
JOIN tenants t ON t.id = m.tenant_id
ORDER BY ev.id, delivery.contact_id
"""  # noqa: S608 - composed of this module's constants only


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (contact, event) delivery, as storage knows it."""

    id: int
    contact_id: int
    event_id: int
    status: str
    attempts: int
    last_error: str | None


async def add_contact(storage: Storage, new: NewContact) -> tuple[Contact, bytes | None]:
    """Add a contact; for a webhook also its new secret (shown once).

    Raises:
        InvalidValueError: an unknown tenant, or a field outside its rules.
    """
    secret = secrets.token_bytes(SECRET_BYTES) if new.kind == "webhook" else None
    params: dict[str, Any] = {
        "tenant": new.tenant, "name": new.name, "kind": new.kind, "address": new.address,
        "secret": secret, "rule_ids": list(new.rule_ids), "min_severity": new.min_severity,
        "quiet_from": new.quiet_from, "quiet_until": new.quiet_until,
        "time_zone": new.time_zone, "rate_per_hour": new.rate_per_hour,
        "escalate_to": new.escalate_to, "escalate_after_s": new.escalate_after_s,
    }  # fmt: skip
    async with storage.connection("adding an alarm contact") as conn:
        cursor = await conn.execute(_INSERT, params)
        row = await cursor.fetchone()
    if row is None:
        raise InvalidValueError(f"no tenant {new.tenant!r}")
    return Contact(*row), secret


async def contacts_for_event(storage: Storage, event_id: int) -> list[tuple[Contact, str]]:
    """The contacts that hear of an event, each with the alarm's severity."""
    async with storage.connection("finding alarm contacts") as conn:
        cursor = await conn.execute(_FOR_EVENT, {"event": event_id})
        return [(Contact(*row[:-1]), row[-1]) for row in await cursor.fetchall()]


async def claim_delivery(
    storage: Storage, contact_id: int, event_id: int, status: str
) -> int | None:
    """Record a delivery of ``status``; None when one exists already (sent elsewhere)."""
    params = {"contact": contact_id, "event": event_id, "status": status}
    async with storage.connection("claiming an alarm delivery") as conn:
        cursor = await conn.execute(_CLAIM, params)
        row = await cursor.fetchone()
    return None if row is None else int(row[0])


async def recent_deliveries(storage: Storage, contact_id: int) -> int:
    """Deliveries sent (or being sent) to a contact in the last hour."""
    async with storage.connection("counting alarm deliveries") as conn:
        cursor = await conn.execute(_SENT_LAST_HOUR, {"contact": contact_id})
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def finish_delivery(
    storage: Storage, delivery_id: int, status: str, attempts: int, error: str | None
) -> None:
    """Record where a delivery stands after an attempt."""
    params = {"id": delivery_id, "status": status, "attempts": attempts, "error": error}
    async with storage.connection("recording an alarm delivery") as conn:
        await conn.execute(_FINISH, params)


async def list_deliveries(storage: Storage, contact_id: int) -> list[Delivery]:
    """Every delivery to a contact, oldest first."""
    async with storage.connection("listing alarm deliveries") as conn:
        cursor = await conn.execute(
            """SELECT id, contact_id, event_id, status, attempts, last_error
               FROM alarm_deliveries WHERE contact_id = %(c)s ORDER BY id""",
            {"c": contact_id},
        )
        return [Delivery(*row) for row in await cursor.fetchall()]


async def claim_escalations(storage: Storage) -> list[tuple[Notice, int, int]]:
    """Open alarms unacknowledged past a contact's limit (of its rules and least severity),
    marked escalated once, each with its escalation event, the (enabled) contact to
    escalate to and the delivery row claimed for it in the same transaction."""
    async with storage.connection("escalating alarms") as conn:
        cursor = await conn.execute(_ESCALATE)
        rows = await cursor.fetchall()
    out = []
    for row in rows:
        notice = Notice(
            row[0], row[1], row[2], row[3], row[4], "escalate", row[10], row[5], row[6], row[7],
            False, row[8], row[9],
        )  # fmt: skip
        out.append((notice, int(row[11]), int(row[12])))
    return out


async def contact_by_id(storage: Storage, contact_id: int) -> Contact | None:
    """One contact, enabled or not."""
    async with storage.connection("reading an alarm contact") as conn:
        cursor = await conn.execute(
            f"SELECT {_COLUMNS} FROM alarm_contacts c WHERE c.id = %(id)s",  # noqa: S608
            {"id": contact_id},
        )
        row = await cursor.fetchone()
    return None if row is None else Contact(*row)
