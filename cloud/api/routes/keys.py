"""``/api/v1/keys``: issue, list and revoke API keys (admins).

Layer: HTTP router; storage calls and an audit entry per change, no SQL. A tenant
admin manages its own tenant's keys; a platform admin (no tenant) any key.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from cloud.api.admin_models import IssuedKey, KeyIn, KeyOut
from cloud.api.auth import AdminDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import ApiProblem, error_responses
from cloud.storage import audit
from cloud.storage.keys import ApiKey, NewKey, create_key, list_keys, revoke_key

router = APIRouter(
    prefix="/api/v1/keys",
    tags=["administration"],
    responses=error_responses(401, 403, 422, 429, 503),
)

KeyId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="key id")]


def own_tenant(admin: ApiKey, tenant: str | None, what: str) -> None:
    """403 unless ``admin`` is a platform admin or ``tenant`` is its own."""
    if admin.scope.tenant_id is not None and tenant != admin.tenant:
        raise ApiProblem(status.HTTP_403_FORBIDDEN, f"a tenant admin {what} of its own tenant only")


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(404))
async def issue_key(body: KeyIn, admin: AdminDep, storage: StorageDep) -> IssuedKey:
    """Issue a key; its token is in this response only."""
    own_tenant(admin, body.tenant, "issues keys")
    new = NewKey(
        name=body.name,
        role=body.role,
        tenant=body.tenant,
        regions=body.regions,
        site_ids=body.site_ids,
        gateway_ids=body.gateway_ids,
        rate_per_s=body.rate_per_s,
        burst=body.burst,
        expires_at=body.expires_at,
    )
    token, key = await create_key(storage, new)
    detail = {"key_id": key.id, "role": key.role, "name": key.name}
    await audit.record(
        storage,
        admin.actor,
        "key.create",
        f"key:{key.prefix}",
        detail,
        tenant_id=key.scope.tenant_id,
    )
    return IssuedKey(**KeyOut.of(key).model_dump(), token=token)


@router.get("")
async def get_keys(admin: AdminDep, storage: StorageDep) -> list[KeyOut]:
    """Keys of the admin's tenant (every key for a platform admin), revoked ones too."""
    return [KeyOut.of(k) for k in await list_keys(storage, admin.scope.tenant_id)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def delete_key(key_id: KeyId, admin: AdminDep, storage: StorageDep) -> None:
    """Revoke a key: it gets 401 from now on. Revoking twice is harmless; a key cannot
    revoke itself (ask another admin, or use ``shanshui cloud key revoke``)."""
    if key_id == admin.id:
        raise ApiProblem(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "key_id: this is the key of the request itself"
        )
    await revoke_key(storage, key_id, admin.scope.tenant_id)
    await audit.record(
        storage, admin.actor, "key.revoke", f"key_id:{key_id}", {}, tenant_id=admin.scope.tenant_id
    )
