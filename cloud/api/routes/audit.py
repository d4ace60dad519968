"""``GET /api/v1/audit``: the audit log, newest first (admins).

Layer: HTTP router; one storage call, no SQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.admin_models import AuditOut
from cloud.api.auth import AdminDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.storage import audit

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["administration"],
    responses=error_responses(401, 403, 422, 429, 503),
)


@router.get("")
async def get_audit(
    admin: AdminDep,
    storage: StorageDep,
    action: Annotated[
        str | None,
        Query(pattern=r"^[a-z][a-z_.]{0,63}$", examples=["readings.export"]),
    ] = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_DB_ID, description="entries older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    """Exports and administrative actions of the admin's tenant (all for a platform admin)."""
    entries = await audit.list_entries(
        storage, tenant_id=admin.scope.tenant_id, action=action, before_id=before, limit=limit
    )
    return [AuditOut.of(e) for e in entries]
