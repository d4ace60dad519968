"""``shanshui cloud key|share|site …``: API keys, sharing grants and stations.

Layer: command line. Parses options, calls :mod:`cloud.storage` (keys, grants,
sites, audit) and prints one line per record. A key's token is printed once, on
stdout, and is never stored or logged. Every change is written to the audit log
as done by ``cli:<os user>``. No SQL here.
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import typer

from cloud.cli_common import EXIT_USAGE, reports_errors, with_storage
from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage import Storage, audit
from cloud.storage.access import ROLES, Scope
from cloud.storage.grants import Grant, NewGrant, create_grant, list_grants, revoke_grant
from cloud.storage.keys import ApiKey, NewKey, create_key, list_keys, revoke_key
from cloud.storage.sites import (
    MONITORING_TYPES,
    NOISE_ZONES,
    WATER_CLASSES,
    Site,
    SiteAttributes,
    add_site,
    list_sites,
    update_site,
)

key_app = typer.Typer(help="API keys: issue, list, revoke.", no_args_is_help=True)
share_app = typer.Typer(help="Sharing grants between tenants.", no_args_is_help=True)
site_app = typer.Typer(help="Stations (sites) and what the standards need.", no_args_is_help=True)

PLATFORM = Scope(tenant_id=None)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (containers)
        return "cli:unknown"


def _time(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with an offset, or exit 2 naming the option."""
    from cloud.api.params import parse_time  # noqa: PLC0415 - pydantic-free path for --help

    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        typer.echo(f"error: {option}: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None


def _iso(time: datetime | None) -> str:
    return "-" if time is None else time.isoformat(timespec="seconds")


def _key_line(key: ApiKey) -> str:
    scope = key.scope
    narrowing = " ".join(
        f"{name}={','.join(map(str, values))}"
        for name, values in (
            ("regions", scope.regions),
            ("sites", scope.site_ids),
            ("gateways", scope.gateway_ids),
        )
        if values
    )
    state = f"revoked {_iso(key.revoked_at)}" if key.revoked_at else "active"
    return (
        f"{key.id:>5}  ssk_{key.prefix}…  {key.role:<10} {key.tenant or '(platform)':<16} "
        f"{state:<10} {key.rate_per_s:g}/s burst {key.burst}  {narrowing}  {key.name}"
    ).rstrip()


@key_app.command("add")
@reports_errors
def key_add(
    name: Annotated[str, typer.Argument(help="Who or what holds the key.")],
    *,
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "analyst",
    tenant: Annotated[
        str | None, typer.Option(help="Its tenant (department); omit for a platform admin.")
    ] = None,
    region: Annotated[
        list[str] | None, typer.Option(help="Narrow to a region-code prefix (repeatable).")
    ] = None,
    site: Annotated[
        list[int] | None, typer.Option(help="Narrow to a site id (repeatable).")
    ] = None,
    gateway: Annotated[
        list[str] | None, typer.Option(help="Narrow to a gateway (repeatable; technicians).")
    ] = None,
    rate: Annotated[float, typer.Option(help="Requests per second, sustained.")] = 20.0,
    burst: Annotated[int, typer.Option(help="Requests allowed at once.")] = 100,
    expires: Annotated[str | None, typer.Option(help="ISO 8601 time with an offset.")] = None,
) -> None:
    """Issue an API key and print it once (only its hash is kept)."""
    new = NewKey(
        name=name,
        role=role,  # type: ignore[arg-type] # checked by create_key
        tenant=tenant,
        regions=region or (),
        site_ids=site or (),
        gateway_ids=gateway or (),
        rate_per_s=rate,
        burst=burst,
        expires_at=_time(expires, "--expires"),
    )

    async def work(storage: Storage) -> tuple[str, ApiKey]:
        token, key = await create_key(storage, new)
        detail = {"key_id": key.id, "role": key.role, "name": key.name}
        await audit.record(
            storage,
            _actor(),
            "key.create",
            f"key:{key.prefix}",
            detail,
            tenant_id=key.scope.tenant_id,
        )
        return token, key

    token, key = _naming_tenants(work)
    typer.echo(token)
    typer.echo(f"issued key {key.id} ({key.role}); the key above is shown only once", err=True)


@key_app.command("list")
@reports_errors
def key_list() -> None:
    """Every key, revoked ones too (never the keys themselves)."""
    keys = with_storage(list_keys)
    for key in keys:
        typer.echo(_key_line(key))
    if not keys:
        typer.echo("no keys")


@key_app.command("revoke")
@reports_errors
def key_revoke(key_id: Annotated[int, typer.Argument(help="The key's id (key list).")]) -> None:
    """Revoke a key: it gets 401 from its next request on."""

    async def work(storage: Storage) -> None:
        await revoke_key(storage, key_id)
        await audit.record(storage, _actor(), "key.revoke", f"key_id:{key_id}")

    with_storage(work)
    typer.echo(f"revoked key {key_id}", err=True)


R = TypeVar("R")


def _naming_tenants(work: Callable[[Storage], Awaitable[R]]) -> R:
    """:func:`with_storage`, saying how a tenant comes to be when one named does not exist."""
    try:
        return with_storage(work)
    except NotFoundError as exc:
        if exc.kind != "tenant":
            raise
        raise InvalidValueError(
            f"{exc} (a tenant is created with its first station: "
            f"shanshui cloud site add NAME --tenant {exc.ident})"
        ) from None


def _grant_line(grant: Grant) -> str:
    quantities = ",".join(grant.quantities) or "all quantities"
    state = f"revoked {_iso(grant.revoked_at)}" if grant.revoked_at else "active"
    return (
        f"{grant.id:>5}  {grant.from_tenant} -> {grant.to_tenant}  {quantities}  "
        f"readings {_iso(grant.valid_from)} .. {_iso(grant.valid_until)}  "
        f"expires {_iso(grant.expires_at)}  {state}  {grant.note}"
    ).rstrip()


@share_app.command("grant")
@reports_errors
def share_grant(
    *,
    from_tenant: Annotated[str, typer.Option("--from", help="The tenant sharing its data.")],
    to_tenant: Annotated[str, typer.Option("--to", help="The tenant receiving access.")],
    quantity: Annotated[
        list[str] | None, typer.Option(help="Only this quantity (repeatable); default all.")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Readings from (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Readings until (ISO 8601).")] = None,
    expires: Annotated[str | None, typer.Option(help="The grant ends (ISO 8601).")] = None,
    note: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
) -> None:
    """Let one tenant read another's data (some quantities, a time range) until it expires."""
    new = NewGrant(
        from_tenant=from_tenant,
        to_tenant=to_tenant,
        quantities=quantity or (),
        valid_from=_time(since, "--since"),
        valid_until=_time(until, "--until"),
        expires_at=_time(expires, "--expires"),
        note=note,
    )

    async def work(storage: Storage) -> Grant:
        grant = await create_grant(storage, new)
        await audit.record(storage, _actor(), "grant.create", f"grant:{grant.id}")
        return grant

    typer.echo(_grant_line(_naming_tenants(work)))


@share_app.command("list")
@reports_errors
def share_list() -> None:
    """Every grant, revoked ones too."""
    grants = with_storage(list_grants)
    for grant in grants:
        typer.echo(_grant_line(grant))
    if not grants:
        typer.echo("no grants")


@share_app.command("revoke")
@reports_errors
def share_revoke(grant_id: Annotated[int, typer.Argument(help="The grant's id.")]) -> None:
    """Revoke a grant at once."""

    async def work(storage: Storage) -> None:
        await revoke_grant(storage, grant_id)
        await audit.record(storage, _actor(), "grant.revoke", f"grant:{grant_id}")

    with_storage(work)
    typer.echo(f"revoked grant {grant_id}", err=True)


def _site_line(site: Site) -> str:
    a = site.attributes
    where = "-" if a.latitude is None else f"{a.latitude:.5f},{a.longitude:.5f}"
    parts = [
        f"{site.id:>5}",
        f"{site.tenant:<16}",
        f"{site.name:<24}",
        where,
        f"region={a.region_code or '-'}",
        f"type={a.monitoring_type or '-'}",
    ]
    if a.noise_zone:
        parts.append(f"noise_zone={a.noise_zone}")
    if a.water_body or a.water_target_class:
        parts.append(f"water={a.water_body or '-'}/{a.water_target_class or '-'}")
    parts.append(a.time_zone)
    return "  ".join(parts)


_TYPE_HELP = f"One of {', '.join(MONITORING_TYPES)}."
_ZONE_HELP = f"GB 3096-2008 functional zone: {', '.join(NOISE_ZONES)}."
_CLASS_HELP = f"GB 3838-2002 target class: {', '.join(WATER_CLASSES)}."


@site_app.command("add")
@reports_errors
def site_add(
    name: Annotated[str, typer.Argument(help="Station name, unique in its tenant.")],
    *,
    tenant: Annotated[str, typer.Option(help="Its tenant (created if new).")] = "default",
    lat: Annotated[float | None, typer.Option(help="Latitude, degrees.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude, degrees.")] = None,
    region: Annotated[str | None, typer.Option(help="Region code (GB/T 2260).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help=_TYPE_HELP)] = None,
    noise_zone: Annotated[str | None, typer.Option(help=_ZONE_HELP)] = None,
    water_body: Annotated[str | None, typer.Option(help="River, lake or reservoir.")] = None,
    water_class: Annotated[str | None, typer.Option(help=_CLASS_HELP)] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone of calendar buckets.")] = "Asia/Shanghai",
) -> None:
    """Add a station."""
    attributes = SiteAttributes(
        latitude=lat,
        longitude=lon,
        region_code=region,
        monitoring_type=type_,  # type: ignore[arg-type] # checked by add_site
        noise_zone=noise_zone,  # type: ignore[arg-type]
        water_body=water_body,
        water_target_class=water_class,  # type: ignore[arg-type]
        time_zone=tz,
    )

    async def work(storage: Storage) -> Site:
        site = await add_site(storage, tenant, name, attributes, new_tenant=True)
        await audit.record(storage, _actor(), "site.create", f"site:{site.id}")
        return site

    typer.echo(_site_line(with_storage(work)))


@site_app.command("set")
@reports_errors
def site_set(
    site_id: Annotated[int, typer.Argument(help="The site's id (site list).")],
    *,
    lat: Annotated[float | None, typer.Option(help="Latitude, degrees.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude, degrees.")] = None,
    region: Annotated[str | None, typer.Option(help="Region code (GB/T 2260).")] = None,
    type_: Annotated[str | None, typer.Option("--type", help=_TYPE_HELP)] = None,
    noise_zone: Annotated[str | None, typer.Option(help=_ZONE_HELP)] = None,
    water_body: Annotated[str | None, typer.Option(help="River, lake or reservoir.")] = None,
    water_class: Annotated[str | None, typer.Option(help=_CLASS_HELP)] = None,
    tz: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    clear: Annotated[
        list[str] | None,
        typer.Option(help="Clear an attribute (repeatable): latitude/longitude, region_code …"),
    ] = None,
) -> None:
    """Change the attributes given; others stay as they are."""
    given: dict[str, Any] = {
        "latitude": lat,
        "longitude": lon,
        "region_code": region,
        "monitoring_type": type_,
        "noise_zone": noise_zone,
        "water_body": water_body,
        "water_target_class": water_class,
        "time_zone": tz,
    }
    changes = {k: v for k, v in given.items() if v is not None}
    changes |= dict.fromkeys(clear or (), None)
    if not changes:
        typer.echo("error: nothing to change: give an option", err=True)
        raise typer.Exit(EXIT_USAGE)

    async def work(storage: Storage) -> Site:
        site = await update_site(storage, PLATFORM, site_id, changes)
        await audit.record(storage, _actor(), "site.update", f"site:{site_id}", changes)
        return site

    typer.echo(_site_line(with_storage(work)))


@site_app.command("list")
@reports_errors
def site_list(
    region: Annotated[str | None, typer.Option(help="Region-code prefix.")] = None,
    type_: Annotated[str | None, typer.Option("--type", help=_TYPE_HELP)] = None,
) -> None:
    """Every station (of a region prefix or monitoring type)."""

    async def work(storage: Storage) -> list[Site]:
        return await list_sites(storage, PLATFORM, region=region, monitoring_type=type_)

    sites = with_storage(work)
    for site in sites:
        typer.echo(_site_line(site))
    if not sites:
        typer.echo("no sites")
