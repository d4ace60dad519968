"""``GET /api/v1/noise``: GB 3096-2008 day and night levels of a station for a local day.

Layer: HTTP router. Resolves the station's ``noise_level`` series in the key's
scope (404 for a station out of scope), reads the local day's valid readings
(flag N) through :func:`cloud.storage.queries.export`, and hands them to
:func:`cloud.standards.noise.day_night` and, when the station has a functional
zone, :func:`cloud.standards.noise.assess`. No SQL here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.scoping import resolve
from cloud.schemas import iso_utc
from cloud.standards.noise import assess, day_night
from cloud.storage.access import SeriesFilter
from cloud.storage.queries import export
from cloud.storage.sites import list_sites

router = APIRouter(
    prefix="/api/v1",
    tags=["standards"],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)

QUANTITY = "noise_level"


class ZoneLimits(BaseModel):
    """The limits of the station's functional zone and the day's exceedances (0 when within)."""

    zone: str = Field(examples=["2"])
    day_limit_db: float = Field(examples=[60])
    night_limit_db: float = Field(examples=[50])
    night_max_limit_db: float = Field(description="night limit + 15 dB", examples=[65])
    day_exceedance_db: float | None = Field(description="null without day readings")
    night_exceedance_db: float | None = Field(description="null without night readings")
    night_max_exceedance_db: float | None
    exceeds_day: bool
    exceeds_night: bool


class StationNoise(BaseModel):
    """Ld, Ln and Ldn of one station's local day, in dB(A)."""

    station: int = Field(examples=[1])
    date: str = Field(examples=["2026-05-01"])
    time_zone: str = Field(examples=["Asia/Shanghai"])
    start: str = Field(description="the local day's first instant, ISO 8601 UTC")
    end: str = Field(description="the next local day's first instant, ISO 8601 UTC")
    ld_db: float | None = Field(description="day (06-22 h) energy mean", examples=[58.2])
    ln_db: float | None = Field(description="night (22-06 h) energy mean", examples=[47.9])
    ldn_db: float | None = Field(description="day-night level, night +10 dB", examples=[58.6])
    lmax_night_db: float | None = Field(description="highest night reading")
    day_readings: int
    night_readings: int
    limits: ZoneLimits | None = Field(description="null when the station has no noise zone")


@router.get("/noise", summary="Environmental noise (GB 3096-2008) of a station for a local day")
async def get_noise(
    key: ReaderDep,
    storage: StorageDep,
    station: Annotated[int, Query(ge=1, le=MAX_DB_ID, description="the station (site) id")],
    day: Annotated[
        date,
        Query(
            alias="date", description="the local day (station's time zone)", examples=["2026-05-01"]
        ),
    ],
) -> StationNoise:
    """Ld, Ln, Ldn from the day's valid ``noise_level`` readings (one local day: the night
    counted is 00-06 h and 22-24 h of it), against the limits of the station's zone."""
    if not 1900 <= day.year < 9000:
        raise ApiProblem(422, "date: must be between the years 1900 and 9000")
    series = await resolve(storage, key, SeriesFilter(site_id=station, quantities=(QUANTITY,)))
    site = (await list_sites(storage, key.scope, site_id=station))[0]
    zone = site.attributes.time_zone
    start = datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), ZoneInfo(zone)).astimezone(UTC)
    readings: list[tuple[datetime, float]] = []
    async for chunk in export(storage, series, start, end):
        readings += [(row.time, row.value) for row in chunk if row.quality == "N"]
    levels = day_night(readings, zone)
    limits = None
    if site.attributes.noise_zone is not None:
        verdict = assess(site.attributes.noise_zone, levels.ld, levels.ln, levels.night_max)
        limits = ZoneLimits(
            zone=verdict.zone,
            day_limit_db=verdict.day_limit,
            night_limit_db=verdict.night_limit,
            night_max_limit_db=verdict.night_max_limit,
            day_exceedance_db=verdict.day_exceedance_db,
            night_exceedance_db=verdict.night_exceedance_db,
            night_max_exceedance_db=verdict.night_max_exceedance_db,
            exceeds_day=bool(verdict.day_exceedance_db),
            exceeds_night=bool(verdict.night_exceedance_db or verdict.night_max_exceedance_db),
        )
    return StationNoise(
        station=station,
        date=day.isoformat(),
        time_zone=zone,
        start=iso_utc(start),
        end=iso_utc(end),
        ld_db=_db(levels.ld),
        ln_db=_db(levels.ln),
        ldn_db=_db(levels.ldn),
        lmax_night_db=_db(levels.night_max),
        day_readings=levels.day_count,
        night_readings=levels.night_count,
        limits=limits,
    )


def _db(level: float | None) -> float | None:
    return None if level is None else round(level, 1)
