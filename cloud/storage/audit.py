"""The audit log: exports and administrative actions, who did them and when.

Layer: storage. Append-only from the application's side; admins read it through
the API (``GET /api/v1/audit``). Details are small JSON objects and never carry
secrets or tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from cloud.storage.store import Storage

MAX_TARGET_CHARS = 500


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit log; ``actor`` is ``key:<prefix>`` or ``cli:<user>``."""

    id: int
    at: datetime
    actor: str
    tenant: str | None
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)


_INSERT = """
INSERT INTO audit_log (actor, tenant_id, action, target, detail)
VALUES (%(actor)s, %(tenant_id)s, %(action)s, %(target)s, %(detail)s)
"""

_INSERT_FOR_GATEWAY = """
INSERT INTO audit_log (actor, tenant_id, action, target, detail)
SELECT %(actor)s, (SELECT g.tenant_id FROM gateways g WHERE g.id = %(target)s),
       %(action)s, %(target)s, %(detail)s
"""

_LIST = """
SELECT a.id, a.at, a.actor, t.name, a.action, a.target, a.detail
FROM audit_log a LEFT JOIN tenants t ON t.id = a.tenant_id
WHERE (%(tenant_id)s::bigint IS NULL OR a.tenant_id = %(tenant_id)s::bigint)
  AND (%(action)s::text IS NULL OR a.action = %(action)s::text)
  AND (%(before)s::bigint IS NULL OR a.id < %(before)s::bigint)
ORDER BY a.id DESC
LIMIT %(limit)s
"""


async def record(
    storage: Storage,
    actor: str,
    action: str,
    target: str = "",
    detail: Mapping[str, Any] | None = None,
    *,
    tenant_id: int | None = None,
) -> None:
    """Append one entry (``action`` like ``key.create``, ``readings.export``)."""
    params = {
        "actor": actor[:200],
        "tenant_id": tenant_id,
        "action": action,
        "target": target[:MAX_TARGET_CHARS],
        "detail": Jsonb(dict(detail or {})),
    }
    async with storage.connection("writing the audit log") as conn:
        await conn.execute(_INSERT, params)


async def record_for_gateway(
    storage: Storage, actor: str, action: str, gateway_id: str, detail: Mapping[str, Any]
) -> None:
    """Append one entry about ``gateway_id``, under that gateway's tenant."""
    params = {
        "actor": actor[:200],
        "action": action,
        "target": gateway_id[:MAX_TARGET_CHARS],
        "detail": Jsonb(dict(detail)),
    }
    async with storage.connection("writing the audit log") as conn:
        await conn.execute(_INSERT_FOR_GATEWAY, params)


async def list_entries(
    storage: Storage,
    *,
    tenant_id: int | None = None,
    action: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Entries newest first (of one tenant, one action, older than ``before_id``)."""
    params = {"tenant_id": tenant_id, "action": action, "before": before_id, "limit": limit}
    async with storage.connection("reading the audit log") as conn:
        cursor = await conn.execute(_LIST, params)
        rows = await cursor.fetchall()
    return [
        AuditEntry(eid, at.astimezone(UTC), actor, tenant, act, target, dict(detail))
        for eid, at, actor, tenant, act, target, detail in rows
    ]
