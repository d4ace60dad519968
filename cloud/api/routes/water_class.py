"""``GET /api/v1/water-class``: the GB 3838-2002 class of a station over a period.

Layer: HTTP router. Resolves the station's series in the key's scope (404 for a
station out of scope), reads the period's means of valid readings (flag N) in one
storage call, maps each quantity to a standard item through its code or HJ 212
factor code (:func:`cloud.standards.codes.code_book`), and hands the means to
:func:`cloud.standards.water.classify`. No SQL here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.api.routes.readings import EndQ, StartQ, checked_window
from cloud.api.scoping import resolve
from cloud.schemas import iso_utc
from cloud.standards.codes import code_book
from cloud.standards.errors import UnknownCodeError
from cloud.standards.water import ITEMS, UNITS, WaterClass, classify
from cloud.storage.access import SeriesFilter
from cloud.storage.aggregates import aggregate
from cloud.storage.sites import list_sites
from device_profiles import load_quantities

MEAN_DECIMALS = 6

router = APIRouter(
    prefix="/api/v1",
    tags=["standards"],
    responses=error_responses(401, 403, 404, 422, 429, 503),
)


class WaterItem(BaseModel):
    """One item's period mean and its class."""

    item: str = Field(examples=["ammonia_nitrogen"])
    mean: float = Field(description="mean of the period's valid readings", examples=[0.8])
    unit: str = Field(examples=["mg/L"])
    readings: int = Field(description="valid readings averaged", examples=[96])
    water_class: str | None = Field(
        alias="class",
        description="I…V or 劣V; null when the item is not rated for this water body",
        examples=["III"],
    )
    note: str | None = None


class StationWaterClass(BaseModel):
    """The GB 3838-2002 class of one station over a period (single-factor method)."""

    station: int = Field(examples=[1])
    start: str = Field(description="inclusive, ISO 8601 UTC", examples=["2026-04-30T16:00:00.000Z"])
    end: str = Field(description="exclusive, ISO 8601 UTC", examples=["2026-05-01T16:00:00.000Z"])
    time_zone: str = Field(examples=["Asia/Shanghai"])
    water_body: Literal["river", "lake"] = Field(examples=["river"])
    items: list[WaterItem]
    missing: list[str] = Field(
        description="items the station measures that have no valid reading in the period",
        examples=[["dissolved_oxygen"]],
    )
    water_class: str | None = Field(
        alias="class", description="the worst item class; null when no item was rated"
    )
    deciding_items: list[str] = Field(examples=[["ammonia_nitrogen"]])
    target_class: str | None = Field(description="the station's target class, if set")
    meets_target: bool | None = Field(description="null without a target or a class")


@router.get(
    "/water-class",
    summary="Surface-water class (GB 3838-2002) of a station over a period",
    response_model_by_alias=True,
)
async def get_water_class(
    *,
    key: ReaderDep,
    storage: StorageDep,
    station: Annotated[int, Query(ge=1, le=MAX_DB_ID, description="the station (site) id")],
    start: StartQ = None,
    end: EndQ = None,
    water_body: Annotated[
        Literal["river", "lake"],
        Query(description="lake also covers reservoirs (their total P and N limits)"),
    ] = "river",
) -> StationWaterClass:
    """Class per item from the means of valid readings over ``[start, end)``, the overall
    class (the worst item), the items that decide it, and whether the target is met."""
    start, end = checked_window(start, end)
    vocabulary = load_quantities()
    book = code_book(ITEMS, vocabulary)
    query = SeriesFilter(site_id=station)
    series = await resolve(storage, key, query)  # 404 when out of scope
    site = (await list_sites(storage, key.scope, site_id=station))[0]
    items: dict[int, str] = {}
    for one in series:
        try:
            items[one.id] = book.resolve(one.quantity)
        except UnknownCodeError:
            continue  # not a water quality item
    members = [s for s in series if s.id in items]
    buckets = await aggregate(storage, members, start, end, "1mo") if members else []
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for bucket in buckets:
        item = items[bucket.series_id]
        totals[item] += bucket.avg * bucket.count
        counts[item] += bucket.count
    # rounded, so that float noise of the sums (1.0000000000000002) cannot cross a limit
    means = {
        item: round(totals[item] / counts[item], MEAN_DECIMALS)
        for item in ITEMS
        if counts.get(item)
    }
    missing = sorted(set(items.values()) - set(means))
    target_text = site.attributes.water_target_class
    target = WaterClass.parse(target_text) if target_text else None
    out = StationWaterClass.model_validate(
        {
            "station": station,
            "start": iso_utc(start),
            "end": iso_utc(end),
            "time_zone": site.attributes.time_zone,
            "water_body": water_body,
            "items": [],
            "missing": missing,
            "class": None,
            "deciding_items": [],
            "target_class": None if target is None else target.label,
            "meets_target": None,
        }
    )
    rated = [item for item in means if not (item == "total_nitrogen" and water_body == "river")]
    if not rated:
        out.items = [_item(item, means[item], counts[item], None, _unrated()) for item in means]
        return out
    result = classify(means, water_body)
    out.items = [
        _item(i.item, i.value, counts[i.item], i.water_class, i.note) for i in result.items
    ]
    out.water_class = result.overall.label
    out.deciding_items = list(result.deciding)
    out.meets_target = None if target is None else result.overall <= target
    return out


def _unrated() -> str:
    return "rated for lakes and reservoirs only"


def _item(
    item: str, mean: float, count: int, water_class: WaterClass | None, note: str | None
) -> WaterItem:
    return WaterItem.model_validate(
        {
            "item": item,
            "mean": mean,
            "unit": UNITS[item],
            "readings": count,
            "class": None if water_class is None else water_class.label,
            "note": note,
        }
    )
