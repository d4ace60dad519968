"""Sites (stations) as first-class data: location, region, monitoring type, zone, water body.

Layer: storage. Adds, updates and lists sites, scoped like every other read (a key
sees the sites of its tenant, narrowed to its regions, sites or gateways, and the
sites of tenants that granted it data). Validates what the database cannot (IANA
time zones) with messages an operator can act on. No HTTP here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from functools import cache
from typing import Any, Literal, get_args
from zoneinfo import available_timezones

from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.access import DEFAULT_TIME_ZONE, REGION_MATCH, Scope
from cloud.storage.store import Storage

MonitoringType = Literal[
    "air", "surface_water", "noise", "soil", "farm", "barn", "pond", "geohazard"
]
NoiseZone = Literal["0", "1", "2", "3", "4a", "4b"]
WaterClass = Literal["I", "II", "III", "IV", "V"]
MONITORING_TYPES: tuple[str, ...] = get_args(MonitoringType)
NOISE_ZONES: tuple[str, ...] = get_args(NoiseZone)
WATER_CLASSES: tuple[str, ...] = get_args(WaterClass)
MAX_NAME_CHARS = 200
_REGION_CODE = re.compile(r"[0-9]{6}(?:[0-9]{3}(?:[0-9]{3})?)?")
_REGION_PREFIX = re.compile(r"[0-9]{2,12}")


@dataclass(frozen=True, slots=True)
class SiteAttributes:
    """The describable part of a site; in an update, only the fields named in ``given``."""

    latitude: float | None = None
    longitude: float | None = None
    region_code: str | None = None
    monitoring_type: MonitoringType | None = None
    noise_zone: NoiseZone | None = None
    water_body: str | None = None
    water_target_class: WaterClass | None = None
    time_zone: str = DEFAULT_TIME_ZONE


@dataclass(frozen=True, slots=True)
class Site:
    """A site as stored."""

    id: int
    tenant: str
    name: str
    attributes: SiteAttributes


ATTRIBUTE_NAMES: tuple[str, ...] = tuple(f.name for f in fields(SiteAttributes))

_COLUMNS = """st.id, t.name, st.name, st.latitude, st.longitude, st.region_code,
       st.monitoring_type, st.noise_zone, st.water_body, st.water_target_class, st.time_zone"""

SITE_VISIBLE = f"""(((%(k_all)s OR st.tenant_id = %(k_tenant)s)
    AND (%(k_regions)s::text[] IS NULL OR {REGION_MATCH})
    AND (%(k_sites)s::bigint[] IS NULL OR st.id = ANY(%(k_sites)s::bigint[]))
    AND (%(k_gateways)s::text[] IS NULL OR EXISTS (
        SELECT 1 FROM gateways g2
        WHERE g2.site_id = st.id AND g2.id = ANY(%(k_gateways)s::text[]))))
  OR (%(k_grants)s AND (%(k_regions)s::text[] IS NULL OR {REGION_MATCH}) AND EXISTS (
        SELECT 1 FROM sharing_grants gr
        WHERE gr.to_tenant_id = %(k_tenant)s AND gr.from_tenant_id = st.tenant_id
          AND gr.revoked_at IS NULL AND (gr.expires_at IS NULL OR gr.expires_at > now()))))"""

_INSERT = f"""
WITH st AS (
    INSERT INTO sites (tenant_id, name, latitude, longitude, region_code, monitoring_type,
                       noise_zone, water_body, water_target_class, time_zone)
    SELECT t.id, %(name)s, %(latitude)s, %(longitude)s, %(region_code)s, %(monitoring_type)s,
           %(noise_zone)s, %(water_body)s, %(water_target_class)s, %(time_zone)s
    FROM tenants t WHERE t.name = %(tenant)s
    ON CONFLICT (tenant_id, name) DO NOTHING
    RETURNING *
)
SELECT {_COLUMNS} FROM st JOIN tenants t ON t.id = st.tenant_id
"""

_UPSERT_TENANT = "INSERT INTO tenants (name) VALUES (%(tenant)s) ON CONFLICT (name) DO NOTHING"

_UPDATE = f"""
WITH st AS (
    UPDATE sites st SET {
    ", ".join(
        f"{name} = CASE WHEN %(set_{name})s THEN %({name})s ELSE st.{name} END"
        for name in ATTRIBUTE_NAMES
    )
}
    WHERE st.id = %(id)s AND {SITE_VISIBLE.replace("k_grants", "k_never")}
    RETURNING st.*
)
SELECT {_COLUMNS} FROM st JOIN tenants t ON t.id = st.tenant_id
"""

_SELECT = f"""
SELECT {_COLUMNS} FROM sites st JOIN tenants t ON t.id = st.tenant_id
WHERE {SITE_VISIBLE}
  AND (%(id)s::bigint IS NULL OR st.id = %(id)s::bigint)
  AND (%(region)s::text IS NULL OR starts_with(st.region_code, %(region)s::text))
  AND (%(type)s::text IS NULL OR st.monitoring_type = %(type)s::text)
ORDER BY st.id
"""


def check_region_code(code: str, *, prefix: bool = False) -> str:
    """A GB/T 2260 code (6, 9 or 12 digits), or with ``prefix`` any 2-12 leading digits.

    Raises:
        InvalidValueError: not of that form.
    """
    pattern = _REGION_PREFIX if prefix else _REGION_CODE
    if not pattern.fullmatch(code):
        what = "2-12 digits" if prefix else "6, 9 or 12 digits (GB/T 2260)"
        raise InvalidValueError(f"region code {code[:20]!r} must be {what}")
    return code


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_attributes(values: Mapping[str, Any]) -> None:
    """Refuse what the database would refuse, with a message naming the field.

    Raises:
        InvalidValueError: the first field out of its rules.
    """
    checks = {
        "monitoring_type": MONITORING_TYPES,
        "noise_zone": NOISE_ZONES,
        "water_target_class": WATER_CLASSES,
    }
    for name, allowed in checks.items():
        value = values.get(name)
        if value is not None and value not in allowed:
            raise InvalidValueError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    if values.get("region_code") is not None:
        check_region_code(values["region_code"])
    if "time_zone" in values and values["time_zone"] not in _zones():
        raise InvalidValueError(f"time_zone {values['time_zone']!r} is not an IANA time zone")
    water_body = values.get("water_body")
    if water_body is not None and not 1 <= len(water_body) <= MAX_NAME_CHARS:
        raise InvalidValueError(f"water_body must be 1-{MAX_NAME_CHARS} characters")
    for axis, bound in (("latitude", 90), ("longitude", 180)):
        value = values.get(axis)
        if value is not None and not -bound <= value <= bound:
            raise InvalidValueError(f"{axis} must be between -{bound} and {bound}")


async def add_site(
    storage: Storage, tenant: str, name: str, attributes: SiteAttributes, *, new_tenant: bool
) -> Site:
    """Create a site of ``tenant`` (creating the tenant only when ``new_tenant``).

    Raises:
        InvalidValueError: a bad attribute, name, or a site of that name exists already.
        NotFoundError: the tenant does not exist (and ``new_tenant`` is false).
    """
    if not 1 <= len(name) <= MAX_NAME_CHARS or "\x00" in name:
        raise InvalidValueError(f"site name must be 1-{MAX_NAME_CHARS} characters")
    values = {f: getattr(attributes, f) for f in ATTRIBUTE_NAMES}
    check_attributes(values)
    _check_located(values)
    params = {"tenant": tenant, "name": name, **values}
    async with storage.connection("adding a site") as conn:
        if new_tenant:
            await conn.execute(_UPSERT_TENANT, params)
        elif not await (
            await conn.execute("SELECT 1 FROM tenants WHERE name = %(tenant)s", params)
        ).fetchone():
            raise NotFoundError("tenant", tenant)
        cursor = await conn.execute(_INSERT, params)
        row = await cursor.fetchone()
    if row is None:
        raise InvalidValueError(f"tenant {tenant!r} already has a site named {name!r}")
    return _site(row)


async def update_site(
    storage: Storage, scope: Scope, site_id: int, changes: Mapping[str, Any]
) -> Site:
    """Set the attributes named in ``changes`` (None clears one) of a site in scope.

    Raises:
        InvalidValueError: a bad attribute, or a location with only one coordinate.
        NotFoundError: no such site in scope.
    """
    unknown = set(changes) - set(ATTRIBUTE_NAMES)
    if unknown:
        raise InvalidValueError(f"unknown site attribute(s): {', '.join(sorted(unknown))}")
    if changes.get("time_zone", DEFAULT_TIME_ZONE) is None:
        raise InvalidValueError("time_zone cannot be cleared")
    check_attributes(changes)
    params: dict[str, Any] = {"id": site_id, "k_never": False, **scope.params()}
    for name in ATTRIBUTE_NAMES:
        params[f"set_{name}"] = name in changes
        params[name] = changes.get(name)
    async with storage.connection("updating a site") as conn:
        current = await _select(conn, scope, site_id=site_id)
        if not current:
            raise NotFoundError("site", site_id)
        merged = {f: getattr(current[0].attributes, f) for f in ATTRIBUTE_NAMES} | dict(changes)
        _check_located(merged)
        cursor = await conn.execute(_UPDATE, params)
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundError("site", site_id)
    return _site(row)


async def list_sites(
    storage: Storage,
    scope: Scope,
    *,
    site_id: int | None = None,
    region: str | None = None,
    monitoring_type: str | None = None,
) -> list[Site]:
    """Sites in scope, by id, optionally one, or of a region prefix or monitoring type."""
    async with storage.connection("listing sites") as conn:
        return await _select(conn, scope, site_id=site_id, region=region, type_=monitoring_type)


async def _select(
    conn: Any,
    scope: Scope,
    *,
    site_id: int | None = None,
    region: str | None = None,
    type_: str | None = None,
) -> list[Site]:
    params = scope.params() | {"id": site_id, "region": region, "type": type_}
    cursor = await conn.execute(_SELECT, params)
    return [_site(row) for row in await cursor.fetchall()]


def _check_located(values: Mapping[str, Any]) -> None:
    if (values.get("latitude") is None) != (values.get("longitude") is None):
        raise InvalidValueError("latitude and longitude go together: give both or neither")


def _site(row: Sequence[Any]) -> Site:
    sid, tenant, name, *rest = row
    return Site(sid, tenant, name, SiteAttributes(*rest))
