"""``/api/v1/sites``: stations with what the standards need to know about them.

Layer: HTTP router; storage calls (and audit entries for changes), no SQL. Any key
lists the sites in its scope; admins add and change them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from cloud.api.admin_models import RegionPrefix, SiteFields, SiteIn, SiteOut
from cloud.api.auth import AdminDep, ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.api.routes.keys import own_tenant
from cloud.errors import NotFoundError
from cloud.storage import audit
from cloud.storage.access import DEFAULT_TIME_ZONE
from cloud.storage.sites import MonitoringType, SiteAttributes, add_site, list_sites, update_site

router = APIRouter(
    prefix="/api/v1/sites", tags=["sites"], responses=error_responses(401, 403, 422, 429, 503)
)

SiteId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="site (station) id")]


@router.get("")
async def get_sites(
    key: ReaderDep,
    storage: StorageDep,
    region: Annotated[RegionPrefix | None, Query(description="region code prefix")] = None,
    monitoring_type: MonitoringType | None = None,
) -> list[SiteOut]:
    """Stations in the key's scope, by id."""
    found = await list_sites(storage, key.scope, region=region, monitoring_type=monitoring_type)
    return [SiteOut.of(s) for s in found]


@router.get("/{site_id}", responses=error_responses(404))
async def get_site(site_id: SiteId, key: ReaderDep, storage: StorageDep) -> SiteOut:
    """One station; 404 when it does not exist or lies outside the key's scope."""
    found = await list_sites(storage, key.scope, site_id=site_id)
    if not found:
        raise NotFoundError("site", site_id)
    return SiteOut.of(found[0])


@router.post("", status_code=status.HTTP_201_CREATED, responses=error_responses(404))
async def post_site(body: SiteIn, admin: AdminDep, storage: StorageDep) -> SiteOut:
    """Add a station to a tenant (the tenant is created by a platform admin if new)."""
    own_tenant(admin, body.tenant, "adds sites")
    values = body.model_dump(exclude={"tenant", "name"})
    values["time_zone"] = values["time_zone"] or DEFAULT_TIME_ZONE
    site = await add_site(
        storage,
        body.tenant,
        body.name,
        SiteAttributes(**values),
        new_tenant=admin.scope.tenant_id is None,
    )
    out = SiteOut.of(site)
    await audit.record(
        storage,
        admin.actor,
        "site.create",
        f"site:{site.id}",
        out.model_dump(),
        tenant_id=admin.scope.tenant_id,
    )
    return out


@router.patch("/{site_id}", responses=error_responses(404))
async def patch_site(
    site_id: SiteId, body: SiteFields, admin: AdminDep, storage: StorageDep
) -> SiteOut:
    """Change the fields sent (null clears one; time_zone cannot be cleared)."""
    changes = body.model_dump(exclude_unset=True)
    site = await update_site(storage, admin.scope, site_id, changes)
    await audit.record(
        storage,
        admin.actor,
        "site.update",
        f"site:{site_id}",
        changes,
        tenant_id=admin.scope.tenant_id,
    )
    return SiteOut.of(site)
