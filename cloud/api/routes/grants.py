"""``/api/v1/grants``: sharing grants between tenants (admins).

Layer: HTTP router; storage calls and an audit entry per change, no SQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cloud.api.admin_models import GrantIn, GrantOut
from cloud.api.auth import AdminDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.api.routes.keys import own_tenant
from cloud.storage import audit
from cloud.storage.grants import NewGrant, create_grant, list_grants, revoke_grant

router = APIRouter(
    prefix="/api/v1/grants",
    tags=["administration"],
    responses=error_responses(401, 403, 422, 429, 503),
)

GrantId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="grant id")]


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(404))
async def grant(body: GrantIn, admin: AdminDep, storage: StorageDep) -> GrantOut:
    """Share ``from_tenant``'s data (some quantities, a time range) with ``to_tenant``."""
    own_tenant(admin, body.from_tenant, "grants access to the data")
    new = NewGrant(
        from_tenant=body.from_tenant,
        to_tenant=body.to_tenant,
        quantities=body.quantities,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        expires_at=body.expires_at,
        note=body.note,
    )
    made = await create_grant(storage, new)
    out = GrantOut.of(made)
    await audit.record(
        storage,
        admin.actor,
        "grant.create",
        f"grant:{made.id}",
        out.model_dump(),
        tenant_id=admin.scope.tenant_id,
    )
    return out


@router.get("")
async def get_grants(admin: AdminDep, storage: StorageDep) -> list[GrantOut]:
    """Grants given or received by the admin's tenant (all for a platform admin)."""
    return [GrantOut.of(g) for g in await list_grants(storage, admin.scope.tenant_id)]


@router.delete(
    "/{grant_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404)
)
async def delete_grant(grant_id: GrantId, admin: AdminDep, storage: StorageDep) -> None:
    """Revoke a grant at once. Revoking twice is harmless."""
    await revoke_grant(storage, grant_id, admin.scope.tenant_id)
    await audit.record(
        storage,
        admin.actor,
        "grant.revoke",
        f"grant:{grant_id}",
        {},
        tenant_id=admin.scope.tenant_id,
    )
