"""``GET /api/v1/aqi/daily``: the HJ 633-2012 daily AQI of each station in scope for a day.

Layer: HTTP router. Resolves the air-pollutant series in the key's scope, reads
their hourly means of the station's local day (valid readings only, one storage
call), and hands them to :func:`cloud.standards.aqi_reports.daily_report`, which
leaves out means that GB 3095-2012 does not count as valid. No SQL here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID, REGION_PATTERN
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.scoping import resolve
from cloud.schemas import iso_utc
from cloud.standards.aqi_reports import daily_report
from cloud.standards.report import aqi_dict
from cloud.storage.access import SeriesFilter, VisibleSeries
from cloud.storage.aggregates import Bucket, aggregate

router = APIRouter(
    prefix="/api/v1/aqi",
    tags=["standards"],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)

POLLUTANTS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")
HOURS = 24


class StationAqi(BaseModel):
    """The daily AQI report of one station."""

    station: int
    date: str = Field(examples=["2026-05-01"])
    time_zone: str = Field(examples=["Asia/Shanghai"])
    start: str = Field(description="the local day's first instant, ISO 8601 UTC")
    means: dict[str, float] = Field(description="the valid daily means the index was computed from")
    invalid: list[str] = Field(description="pollutants left out: too few valid hours")
    aqi: dict[str, Any] | None = Field(
        description="IAQI per pollutant, AQI, level, category, colour, primary pollutants; "
        "null when no pollutant had a valid mean"
    )


@router.get("/daily", summary="Daily AQI (HJ 633-2012) per station for a local day")
async def get_daily_aqi(
    key: ReaderDep,
    storage: StorageDep,
    day: Annotated[
        date,
        Query(
            alias="date", description="the local day (station's time zone)", examples=["2026-05-01"]
        ),
    ],
    station: Annotated[int | None, Query(ge=1, le=MAX_DB_ID, description="one station")] = None,
    region: Annotated[
        str | None, Query(pattern=REGION_PATTERN, description="region code prefix")
    ] = None,
) -> list[StationAqi]:
    """Daily AQI of each station in scope that measures air pollutants, by station id."""
    if not 1900 <= day.year < 9000:
        raise ApiProblem(422, "date: must be between the years 1900 and 9000")
    query = SeriesFilter(site_id=station, quantities=POLLUTANTS, region=region)
    series = [s for s in await resolve(storage, key, query) if s.site_id is not None]
    by_zone: dict[str, list[VisibleSeries]] = defaultdict(list)
    for one in series:
        by_zone[one.time_zone].append(one)
    reports: list[StationAqi] = []
    for zone, members in by_zone.items():
        # 24 hours from local midnight (a DST day's 23 or 25 are not a case in China)
        start = datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
        end = start + timedelta(hours=HOURS)
        buckets = await aggregate(storage, members, start, end, "1h")
        reports += _reports(day, zone, start, series=members, buckets=buckets)
    return sorted(reports, key=lambda r: r.station)


def _reports(
    day: date,
    zone: str,
    start: datetime,
    *,
    series: list[VisibleSeries],
    buckets: list[Bucket],
) -> list[StationAqi]:
    by_id = {s.id: s for s in series}
    # station -> pollutant -> hour -> means of its series (several analysers: their mean)
    hourly: dict[int, dict[str, dict[int, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    for bucket in buckets:
        one = by_id[bucket.series_id]
        hour = int((bucket.start - start) // timedelta(hours=1))
        if one.site_id is not None and 0 <= hour < HOURS:
            hourly[one.site_id][one.quantity][hour].append(bucket.avg)
    out = []
    for site_id in sorted({s.site_id for s in series if s.site_id is not None}):
        pollutants = hourly.get(site_id, {})
        day_means = {
            code: [
                sum(pollutants[code][h]) / len(pollutants[code][h]) if pollutants[code][h] else None
                for h in range(HOURS)
            ]
            for code in pollutants
        }
        report = daily_report(day_means)
        out.append(
            StationAqi(
                station=site_id,
                date=day.isoformat(),
                time_zone=zone,
                start=iso_utc(start),
                means=dict(report.means),
                invalid=list(report.invalid),
                aqi=None if report.result is None else aqi_dict(report.result),
            )
        )
    return out
