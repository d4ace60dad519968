"""Who may see what: roles, key scopes and the SQL that resolves them into series.

Layer: storage. :class:`Scope` is what an API key may see; :func:`visible_series`
turns a scope plus the caller's filters into the series it may read, each with the
time windows it may read them in (a sharing grant can limit quantities and a time
range). Every query of readings goes through it, so scoping is written once.

Rules:

* A key sees its own tenant's series (every tenant for a platform admin), narrowed
  to region-code prefixes, sites and gateways when the key lists any.
* A key of a tenant that was granted data by another tenant also sees the granting
  tenant's series of the granted quantities (all when the grant names none), in the
  granted time range, until the grant expires or is revoked; the key's region
  narrowing applies to them too. Keys narrowed to sites or gateways (technicians)
  see no grants: they are for the gateways they look after.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cloud.storage.store import Storage

Role = Literal["admin", "analyst", "technician", "sharing"]
ROLES: tuple[Role, ...] = ("admin", "analyst", "technician", "sharing")
DEFAULT_TIME_ZONE = "Asia/Shanghai"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a key may see.

    Attributes:
        tenant_id: its tenant; None for a platform admin, who sees every tenant.
        regions: administrative-region code prefixes; empty: no narrowing.
        site_ids: sites; empty: no narrowing.
        gateway_ids: gateways; empty: no narrowing.
    """

    tenant_id: int | None
    regions: tuple[str, ...] = ()
    site_ids: tuple[int, ...] = ()
    gateway_ids: tuple[str, ...] = ()

    @property
    def takes_grants(self) -> bool:
        """Grants reach keys of a tenant that are not narrowed to sites or gateways."""
        return self.tenant_id is not None and not self.site_ids and not self.gateway_ids

    def params(self) -> dict[str, Any]:
        """Parameters of :data:`SCOPE_CONDITION` and :data:`GRANT_JOIN`."""
        return {
            "k_all": self.tenant_id is None,
            "k_tenant": self.tenant_id,
            "k_regions": list(self.regions) or None,
            "k_sites": list(self.site_ids) or None,
            "k_gateways": list(self.gateway_ids) or None,
            "k_grants": self.takes_grants,
        }


@dataclass(frozen=True, slots=True)
class SeriesFilter:
    """The caller's filters; None (or empty) means any."""

    site_id: int | None = None
    gateway: str | None = None
    device: str | None = None
    quantities: tuple[str, ...] = ()
    region: str | None = None
    tenant: str | None = None

    def params(self) -> dict[str, Any]:
        """Parameters of :data:`FILTER_CONDITION`."""
        return {
            "f_site": self.site_id,
            "f_gateway": self.gateway,
            "f_device": self.device,
            "f_quantities": list(self.quantities) or None,
            "f_region": self.region,
            "f_tenant": self.tenant,
        }


@dataclass(frozen=True, slots=True)
class VisibleSeries:
    """A series the caller may read, with where it comes from.

    Attributes:
        windows: disjoint ``(from, until)`` ranges it may read, None meaning unbounded;
            ``[(None, None)]`` for its own tenant's data.
    """

    id: int
    gateway: str
    device: str
    quantity: str
    unit: str
    site_id: int | None
    site: str | None
    tenant: str
    time_zone: str
    windows: list[tuple[datetime | None, datetime | None]] = field(default_factory=list)


# Conditions on gateways g LEFT JOIN sites st, used by every scoped query.
REGION_MATCH = """EXISTS (SELECT 1 FROM unnest(%(k_regions)s::text[]) AS p(prefix)
                  WHERE starts_with(st.region_code, p.prefix))"""

OWN_SCOPE = f"""(%(k_all)s OR g.tenant_id = %(k_tenant)s)
  AND (%(k_regions)s::text[] IS NULL OR {REGION_MATCH})
  AND (%(k_sites)s::bigint[] IS NULL OR g.site_id = ANY(%(k_sites)s::bigint[]))
  AND (%(k_gateways)s::text[] IS NULL OR g.id = ANY(%(k_gateways)s::text[]))"""

# Active grants to the key's tenant from the gateway's tenant (alias gr).
ACTIVE_GRANT = f"""%(k_grants)s AND gr.to_tenant_id = %(k_tenant)s
  AND gr.from_tenant_id = g.tenant_id
  AND gr.revoked_at IS NULL AND (gr.expires_at IS NULL OR gr.expires_at > now())
  AND (%(k_regions)s::text[] IS NULL OR {REGION_MATCH})"""

GATEWAY_VISIBLE = f"""(({OWN_SCOPE}) OR EXISTS (
    SELECT 1 FROM sharing_grants gr WHERE {ACTIVE_GRANT}))"""

FILTER_CONDITION = """(%(f_site)s::bigint IS NULL OR g.site_id = %(f_site)s::bigint)
  AND (%(f_gateway)s::text IS NULL OR g.id = %(f_gateway)s::text)
  AND (%(f_device)s::text IS NULL OR d.name = %(f_device)s::text)
  AND (%(f_quantities)s::text[] IS NULL OR s.quantity = ANY(%(f_quantities)s::text[]))
  AND (%(f_region)s::text IS NULL OR starts_with(st.region_code, %(f_region)s::text))
  AND (%(f_tenant)s::text IS NULL OR t.name = %(f_tenant)s::text)"""

_SERIES_FROM = """
FROM series s
JOIN devices d ON d.id = s.device_id
JOIN gateways g ON g.id = d.gateway_id
JOIN tenants t ON t.id = g.tenant_id
LEFT JOIN sites st ON st.id = g.site_id
"""

_SERIES_COLUMNS = """s.id, g.id, d.name, s.quantity, s.unit, st.id, st.name, t.name,
       coalesce(st.time_zone, 'Asia/Shanghai')"""

_VISIBLE_SERIES = f"""
SELECT {_SERIES_COLUMNS}, NULL::timestamptz, NULL::timestamptz
{_SERIES_FROM}
WHERE {OWN_SCOPE} AND {FILTER_CONDITION}
UNION ALL
SELECT {_SERIES_COLUMNS}, gr.valid_from, gr.valid_until
{_SERIES_FROM}
JOIN sharing_grants gr ON {ACTIVE_GRANT}
  AND (cardinality(gr.quantities) = 0 OR s.quantity = ANY(gr.quantities))
WHERE NOT ({OWN_SCOPE}) AND {FILTER_CONDITION}
ORDER BY 2, 3, 4
"""


async def visible_series(
    storage: Storage, scope: Scope, query: SeriesFilter
) -> list[VisibleSeries]:
    """The series ``scope`` may read that match ``query``, by gateway, device, quantity."""
    params = scope.params() | query.params()
    async with storage.connection("resolving the series in scope") as conn:
        cursor = await conn.execute(_VISIBLE_SERIES, params)
        rows = await cursor.fetchall()
    found: dict[int, VisibleSeries] = {}
    for sid, gw, device, quantity, unit, site_id, site, tenant, tz, lo, hi in rows:
        series = found.get(sid)
        if series is None:
            series = VisibleSeries(sid, gw, device, quantity, unit, site_id, site, tenant, tz)
            found[sid] = series
        series.windows.append((lo, hi))
    for series in found.values():
        series.windows[:] = merge_windows(series.windows)
    return list(found.values())


def merge_windows(
    windows: Sequence[tuple[datetime | None, datetime | None]],
) -> list[tuple[datetime | None, datetime | None]]:
    """The union of half-open ranges as disjoint ranges, in order (None: unbounded)."""
    if any(lo is None and hi is None for lo, hi in windows):
        return [(None, None)]
    ordered = sorted(windows, key=lambda w: (w[0] is not None, w[0] or datetime.min))
    merged: list[tuple[datetime | None, datetime | None]] = []
    for lo, hi in ordered:
        if merged:
            last_lo, last_hi = merged[-1]
            if last_hi is None or lo is None or lo <= last_hi:  # None: unbounded
                merged[-1] = (last_lo, None if last_hi is None or hi is None else max(last_hi, hi))
                continue
        merged.append((lo, hi))
    return merged


def clip(
    windows: Sequence[tuple[datetime | None, datetime | None]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """``windows`` cut to ``[start, end)``, dropping the empty ones."""
    clipped = []
    for lo, hi in windows:
        a = start if lo is None else max(lo, start)
        b = end if hi is None else min(hi, end)
        if a < b:
            clipped.append((a, b))
    return clipped


_VISIBLE_GATEWAYS = f"""
SELECT g.id FROM gateways g LEFT JOIN sites st ON st.id = g.site_id
WHERE {GATEWAY_VISIBLE} AND (%(gw)s::text IS NULL OR g.id = %(gw)s::text)
ORDER BY g.id
"""


async def visible_gateways(storage: Storage, scope: Scope, gateway: str | None = None) -> list[str]:
    """Ids of the gateways ``scope`` may see (only ``gateway``, when given), sorted."""
    params = scope.params() | {"gw": gateway}
    async with storage.connection("resolving the gateways in scope") as conn:
        cursor = await conn.execute(_VISIBLE_GATEWAYS, params)
        return [gw for (gw,) in await cursor.fetchall()]
