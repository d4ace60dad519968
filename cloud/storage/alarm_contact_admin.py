"""Alarm contacts as people manage them: list, create, update, delete, new webhook secret.

Layer: storage. Scoped like alarm rules: a key sees and changes only its own
tenant's contacts (a platform admin: every tenant's); another tenant's contact
answers as not found. A webhook's secret is made here and returned once, at
creation or rotation; nothing here returns it otherwise (records say only whether
there is one). Sending is :mod:`cloud.storage.alarm_contacts` and
:mod:`cloud.alarms.notify`; validation of the fields is :mod:`cloud.alarms.contacts`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import psycopg
from psycopg import AsyncConnection, sql

from cloud.alarms.contacts import ContactChanges, ContactIn, check_address
from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.access import Scope
from cloud.storage.alarm_contacts import SECRET_BYTES
from cloud.storage.store import Storage

# what an update may set, and nothing else (column names are composed into SQL)
_SETTABLE = (
    "name", "address", "rule_ids", "min_severity", "quiet_from", "quiet_until", "time_zone",
    "rate_per_hour", "escalate_to", "escalate_after_s", "enabled",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A contact as listed: everything but its secret."""

    id: int
    tenant: str
    name: str
    kind: str
    address: str
    has_secret: bool
    rule_ids: list[str]
    min_severity: str
    quiet_from: time | None
    quiet_until: time | None
    time_zone: str
    rate_per_hour: int
    escalate_to: int | None
    escalate_after_s: int | None
    enabled: bool
    created_at: datetime


_COLUMNS = """c.id, t.name, c.name, c.kind, c.address, c.secret IS NOT NULL, c.rule_ids,
       c.min_severity, c.quiet_from, c.quiet_until, c.time_zone, c.rate_per_hour,
       c.escalate_to, c.escalate_after_s, c.enabled, c.created_at"""

_IN_SCOPE = "(%(k_all)s OR c.tenant_id = %(k_tenant)s)"

_LIST = f"""
SELECT {_COLUMNS} FROM alarm_contacts c JOIN tenants t ON t.id = c.tenant_id
WHERE {_IN_SCOPE} AND (%(id)s::bigint IS NULL OR c.id = %(id)s::bigint)
  AND (%(tenant)s::text IS NULL OR t.name = %(tenant)s::text)
ORDER BY t.name, c.id
"""  # noqa: S608 - composed of this module's constants only

_LOCK = f"""SELECT c.tenant_id FROM alarm_contacts c
WHERE c.id = %(id)s AND {_IN_SCOPE} FOR UPDATE"""  # noqa: S608

_TENANT = "SELECT id FROM tenants WHERE name = %(tenant)s"

_SAME_TENANT = """SELECT EXISTS (SELECT 1 FROM alarm_contacts
WHERE id = %(other)s AND tenant_id = %(tenant_id)s AND id IS DISTINCT FROM %(id)s)"""

_INSERT = """
INSERT INTO alarm_contacts (tenant_id, name, kind, address, secret, rule_ids, min_severity,
                            quiet_from, quiet_until, time_zone, rate_per_hour, escalate_to,
                            escalate_after_s, enabled)
VALUES (%(tenant_id)s, %(name)s, %(kind)s, %(address)s, %(secret)s, %(rule_ids)s,
        %(min_severity)s, %(quiet_from)s, %(quiet_until)s, %(time_zone)s, %(rate_per_hour)s,
        %(escalate_to)s, %(escalate_after_s)s, %(enabled)s)
RETURNING id
"""

_DELETE = f"DELETE FROM alarm_contacts c WHERE c.id = %(id)s AND {_IN_SCOPE} RETURNING c.id"  # noqa: S608

_ROTATE = f"""UPDATE alarm_contacts c SET secret = %(secret)s
WHERE c.id = %(id)s AND c.kind = 'webhook' AND {_IN_SCOPE} RETURNING c.id"""  # noqa: S608


async def list_contacts(
    storage: Storage, scope: Scope, *, contact_id: int | None = None, tenant: str | None = None
) -> list[ContactRecord]:
    """The contacts in scope, by tenant and id."""
    params: dict[str, Any] = scope.params() | {"id": contact_id, "tenant": tenant}
    async with storage.connection("listing alarm contacts") as conn:
        cursor = await conn.execute(_LIST, params)
        return [ContactRecord(*row) for row in await cursor.fetchall()]


async def get_contact(storage: Storage, scope: Scope, contact_id: int) -> ContactRecord:
    """One contact in scope.

    Raises:
        NotFoundError: no such contact, or another tenant's.
    """
    found = await list_contacts(storage, scope, contact_id=contact_id)
    if not found:
        raise NotFoundError("alarm contact", contact_id)
    return found[0]


async def create_contact(
    storage: Storage, scope: Scope, own_tenant: str | None, new: ContactIn
) -> tuple[ContactRecord, bytes | None]:
    """Add a contact; for a webhook also its new secret (shown once, never again).

    Raises:
        InvalidValueError: another tenant than the key's, an unknown tenant, or an
            ``escalate_to`` that is not a contact of the same tenant.
    """
    tenant = new.tenant if scope.tenant_id is None else own_tenant
    if scope.tenant_id is not None and new.tenant not in (None, own_tenant):
        raise InvalidValueError(f"tenant: must be {own_tenant!r}, the tenant of this key")
    if tenant is None:
        raise InvalidValueError("tenant: name the tenant the contact belongs to")
    secret = secrets.token_bytes(SECRET_BYTES) if new.kind == "webhook" else None
    fields = new.model_dump(exclude={"tenant"})
    fields["rule_ids"] = fields["rule_ids"] or []
    fields.setdefault("min_severity", None)
    defaults = {"min_severity": "info", "time_zone": "Asia/Shanghai", "rate_per_hour": 60,
                "enabled": True}  # fmt: skip
    for name, value in defaults.items():
        if fields.get(name) is None:
            fields[name] = value
    async with storage.connection("adding an alarm contact") as conn:
        row = await (await conn.execute(_TENANT, {"tenant": tenant})).fetchone()
        if row is None:
            raise InvalidValueError(f"tenant: no tenant {tenant!r}")
        tenant_id = int(row[0])
        await _check_escalation(conn, tenant_id, None, new.escalate_to)
        cursor = await conn.execute(_INSERT, fields | {"tenant_id": tenant_id, "secret": secret})
        inserted = await cursor.fetchone()
    assert inserted is not None  # noqa: S101 - INSERT ... RETURNING returns a row
    return await get_contact(storage, scope, int(inserted[0])), secret


async def update_contact(
    storage: Storage, scope: Scope, contact_id: int, changes: ContactChanges
) -> ContactRecord:
    """Change the fields given in ``changes`` (set ones, None included); the contact after.

    Raises:
        NotFoundError: no such contact, or another tenant's.
        InvalidValueError: the result would not hold together (address of the kind,
            quiet hours and escalation given in pairs, escalation within the tenant).
    """
    given = changes.model_dump(exclude_unset=True)
    current = await get_contact(storage, scope, contact_id)
    merged = {name: getattr(current, name) for name in _SETTABLE} | given
    if merged["rule_ids"] is None:
        merged["rule_ids"] = []
    for name in ("min_severity", "time_zone", "rate_per_hour", "enabled", "name", "address"):
        if merged[name] is None:
            raise InvalidValueError(f"{name}: may be changed, not removed")
    try:
        check_address(current.kind, merged["address"])
    except ValueError as exc:
        raise InvalidValueError(f"address: {exc}") from None
    for first, second in (("quiet_from", "quiet_until"), ("escalate_to", "escalate_after_s")):
        if (merged[first] is None) != (merged[second] is None):
            raise InvalidValueError(f"{first}, {second}: give both, or neither")
    if not given:
        return current
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(name), sql.Placeholder(name)) for name in given
    )
    update = sql.SQL("UPDATE alarm_contacts SET {} WHERE id = %(id)s").format(assignments)
    async with storage.connection("changing an alarm contact") as conn:
        locked = await (await conn.execute(_LOCK, scope.params() | {"id": contact_id})).fetchone()
        if locked is None:
            raise NotFoundError("alarm contact", contact_id)
        await _check_escalation(conn, int(locked[0]), contact_id, merged["escalate_to"])
        params = {name: merged[name] for name in given} | {"id": contact_id}
        await conn.execute(update, params)
    return await get_contact(storage, scope, contact_id)


async def delete_contact(storage: Storage, scope: Scope, contact_id: int) -> None:
    """Delete a contact and its deliveries.

    Raises:
        NotFoundError: no such contact, or another tenant's.
        InvalidValueError: another contact escalates to it.
    """
    async with storage.connection("deleting an alarm contact") as conn:
        try:
            cursor = await conn.execute(_DELETE, scope.params() | {"id": contact_id})
        except psycopg.errors.ForeignKeyViolation:
            raise InvalidValueError(
                f"contact {contact_id} is another contact's escalate_to; change that one first"
            ) from None
        if await cursor.fetchone() is None:
            raise NotFoundError("alarm contact", contact_id)


async def rotate_contact_secret(storage: Storage, scope: Scope, contact_id: int) -> bytes:
    """A new secret for a webhook contact (shown once); the old one signs nothing more.

    Raises:
        NotFoundError: no such webhook contact, or another tenant's.
    """
    secret = secrets.token_bytes(SECRET_BYTES)
    async with storage.connection("rotating a webhook secret") as conn:
        params = scope.params() | {"id": contact_id, "secret": secret}
        if await (await conn.execute(_ROTATE, params)).fetchone() is None:
            raise NotFoundError("webhook contact", contact_id)
    return secret


async def _check_escalation(
    conn: AsyncConnection[Any], tenant_id: int, contact_id: int | None, other: int | None
) -> None:
    if other is None:
        return
    params = {"other": other, "tenant_id": tenant_id, "id": contact_id}
    row = await (await conn.execute(_SAME_TENANT, params)).fetchone()
    if not (row and row[0]):
        raise InvalidValueError(f"escalate_to: {other} is not another contact of the same tenant")
