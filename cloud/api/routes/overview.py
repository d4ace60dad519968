"""``GET /api/v1/overview``: every station in scope with how it is doing now, for the dashboard.

Layer: HTTP router. Reads sites, gateways, newest values and recent hourly means
through storage (four queries whatever the number of stations) and rates each
station with :mod:`cloud.api.station_ratings`. No SQL here. Also serves the
vocabulary (names and units) and the operator's map outline the pages draw with.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cloud.api.admin_models import RegionPrefix
from cloud.api.auth import ReaderDep
from cloud.api.deps import SettingsDep, StorageDep
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.station_ratings import (
    AIR_POLLUTANTS,
    NOISE_QUANTITY,
    air_rating,
    noise_rating,
    water_item,
    water_rating,
)
from cloud.schemas import iso_utc, iso_utc_or_none
from cloud.storage import aggregates, queries
from cloud.storage.access import SeriesFilter, VisibleSeries, visible_gateways, visible_series
from cloud.storage.alarms import AlarmFilter, list_alarms
from cloud.storage.models import GatewaySummary
from cloud.storage.sites import MonitoringType, Site, list_sites
from cloud.storage.store import Storage
from device_profiles import load_quantities

router = APIRouter(
    prefix="/api/v1", tags=["dashboard"], responses=error_responses(401, 403, 422, 429, 503)
)

AIR_HOURS = 8  # the O3 8-h moving mean needs eight hourly means
MAX_ALARMS = 10_000
WATER_TYPES = ("surface_water", "pond")


class GatewayState(BaseModel):
    """A gateway of a station, as the overview shows it."""

    id: str
    presence: str | None
    presence_at: str | None
    last_batch_at: str | None


class StationStatus(BaseModel):
    """One station with its current rating."""

    id: int
    name: str
    department: str = Field(description="the tenant (department) owning the station")
    region_code: str | None
    monitoring_type: str | None
    latitude: float | None
    longitude: float | None
    time_zone: str
    noise_zone: str | None
    water_target_class: str | None
    gateways: list[GatewayState]
    latest_at: str | None = Field(description="time of the newest reading of the station")
    rating: dict[str, Any] | None = Field(
        description="kind aqi (HJ 633 real-time report), water (GB 3838 class vs target) or "
        "noise (GB 3096 exceedance); rank grows with how bad it is; null without data"
    )
    alarm: dict[str, Any] | None = Field(
        default=None,
        description="active alarms: counts of open and acknowledged ones and their "
        "severities; null when none",
    )


@router.get("/overview", summary="Stations in scope with their current rating")
async def get_overview(
    key: ReaderDep,
    storage: StorageDep,
    region: Annotated[RegionPrefix | None, Query(description="region code prefix")] = None,
    monitoring_type: MonitoringType | None = None,
    department: Annotated[str | None, Query(max_length=200, description="tenant name")] = None,
) -> list[StationStatus]:
    """Every station of the key's scope, worst first."""
    sites = await list_sites(storage, key.scope, region=region, monitoring_type=monitoring_type)
    sites = [s for s in sites if department is None or s.tenant == department]
    wanted = {s.id for s in sites}
    series = [
        s
        for s in await visible_series(storage, key.scope, SeriesFilter(region=region))
        if s.site_id in wanted
    ]
    now = datetime.now(UTC)
    latest = await queries.latest(storage, series)
    hourly = await _air_hours(storage, series, now)
    visible = set(await visible_gateways(storage, key.scope))
    gateways = [g for g in await storage.list_gateways() if g.id in visible]
    active = await list_alarms(
        storage, key.scope, AlarmFilter(states=("open", "acknowledged"), limit=MAX_ALARMS)
    )
    alarms: dict[int, dict[str, Any]] = {}
    for a in active:
        if a.site_id is not None:
            one = alarms.setdefault(a.site_id, {"open": 0, "acknowledged": 0, "severities": []})
            one[a.state] += 1
            if a.severity not in one["severities"]:
                one["severities"].append(a.severity)
    out = [
        _status(site, series=series, latest=latest, hourly=hourly, gateways=gateways, now=now)
        for site in sites
    ]
    for station in out:
        station.alarm = alarms.get(station.id)
    return sorted(out, key=lambda s: (-(s.rating or {}).get("rank", 0.0), s.name, s.id))


async def _air_hours(
    storage: Storage, series: list[VisibleSeries], now: datetime
) -> dict[int, dict[str, list[float | None]]]:
    """Site -> pollutant -> the last hours' means (several analysers averaged), oldest first."""
    air = [s for s in series if s.quantity in AIR_POLLUTANTS]
    hour = now.replace(minute=0, second=0, microsecond=0)
    start = hour - timedelta(hours=AIR_HOURS - 1)
    buckets = await aggregates.aggregate(storage, air, start, now, "1h")
    by_id = {s.id: s for s in air}
    sums: dict[tuple[int, str, int], list[float]] = defaultdict(list)
    for b in buckets:
        one = by_id[b.series_id]
        slot = int((b.start - start) // timedelta(hours=1))
        if one.site_id is not None and 0 <= slot < AIR_HOURS:
            sums[(one.site_id, one.quantity, slot)].append(b.avg)
    out: dict[int, dict[str, list[float | None]]] = defaultdict(dict)
    for (site, code, slot), values in sums.items():
        hours = out[site].setdefault(code, [None] * AIR_HOURS)
        hours[slot] = sum(values) / len(values)
    return out


def _status(
    site: Site,
    *,
    series: list[VisibleSeries],
    latest: list[queries.Row],
    hourly: dict[int, dict[str, list[float | None]]],
    gateways: list[GatewaySummary],
    now: datetime,
) -> StationStatus:
    a = site.attributes
    mine = {s.id: s for s in series if s.site_id == site.id}
    rows = [r for r in latest if r.series_id in mine]
    newest = max((r.time for r in rows), default=None)
    values = {mine[r.series_id].quantity: (r.value, r.time) for r in rows if r.quality == "N"}
    rating: dict[str, Any] | None = None
    if a.monitoring_type in WATER_TYPES or (
        a.monitoring_type is None and any(water_item(q) for q in values)
    ):
        rating = water_rating({q: v for q, (v, _) in values.items()}, a.water_target_class)
    elif a.monitoring_type == "noise" or (a.monitoring_type is None and NOISE_QUANTITY in values):
        if NOISE_QUANTITY in values:
            level, at = values[NOISE_QUANTITY]
            rating = noise_rating(level, a.noise_zone, at, a.time_zone)
    else:
        rating = air_rating(hourly.get(site.id, {}))
    return StationStatus(
        id=site.id,
        name=site.name,
        department=site.tenant,
        region_code=a.region_code,
        monitoring_type=a.monitoring_type,
        latitude=a.latitude,
        longitude=a.longitude,
        time_zone=a.time_zone,
        noise_zone=a.noise_zone,
        water_target_class=a.water_target_class,
        gateways=[
            GatewayState(
                id=g.id,
                presence=g.presence,
                presence_at=iso_utc_or_none(g.presence_at),
                last_batch_at=iso_utc_or_none(g.last_batch_at),
            )
            for g in gateways
            if g.tenant == site.tenant and g.site == site.name
        ],
        latest_at=None if newest is None else iso_utc(newest),
        rating=rating,
    )


class QuantityOut(BaseModel):
    """A quantity of the vocabulary (``device_profiles/quantities.yaml``)."""

    code: str
    name: str
    unit: str
    min: float
    max: float


@router.get("/vocabulary", summary="Quantity codes with their names, units and ranges")
async def get_vocabulary(key: ReaderDep) -> list[QuantityOut]:
    """The vocabulary every reading uses."""
    return [
        QuantityOut(code=q.code, name=q.name, unit=q.unit, min=q.min, max=q.max)
        for q in load_quantities().values()
    ]


@router.get("/map/outline", summary="The operator's region outline (GeoJSON) for the map")
async def get_outline(key: ReaderDep, settings: SettingsDep) -> dict[str, Any]:
    """The GeoJSON of ``SHANSHUI_MAP_OUTLINE``; an empty FeatureCollection when none is set."""
    path = settings.map_outline
    if path is None:
        return {"type": "FeatureCollection", "features": []}
    try:
        return _outline(path.expanduser())
    except (OSError, ValueError) as exc:
        raise ApiProblem(503, f"map outline {path}: {exc}") from None


@cache
def _outline(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("type") not in (
        "FeatureCollection",
        "Feature",
        "Polygon",
        "MultiPolygon",
    ):
        raise ValueError("not a GeoJSON FeatureCollection, Feature, Polygon or MultiPolygon")
    return data
