"""How a station is doing right now, by its type: AQI level, water class, noise exceedance.

Layer: pure functions over numbers the overview route has read; no I/O, no clock
(the time is an argument). The standards themselves live in :mod:`cloud.standards`;
this module only picks the means they are fed with and shapes the result for JSON:

* air: the real-time report (实时报, HJ 633-2012) from the hourly means of the last
  hours, the newest (possibly still running) hour last;
* surface water: GB 3838-2002 class of the newest value of each rated item, against
  the site's target class;
* noise: the newest hourly energy mean against the GB 3096-2008 limit of the zone for
  the local period (day 06-22, night 22-06).

Every rating carries ``rank``: a number that grows with how bad things are, so the
overview can sort stations of different types in one list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cloud.standards.aqi import POLLUTANTS
from cloud.standards.aqi_reports import hourly_report
from cloud.standards.codes import code_book
from cloud.standards.errors import StandardsError
from cloud.standards.noise import DAY_START, NIGHT_START, ZONE_LIMITS
from cloud.standards.report import aqi_dict
from cloud.standards.water import ITEMS, STATUS, WaterClass, classify, worse_than

AIR_POLLUTANTS = ("so2", "no2", "pm10", "pm2_5", "co", "o3")
NOISE_QUANTITY = "noise_level"
_WATER_CODES = code_book(ITEMS)
_AIR_CODES = code_book(POLLUTANTS)


def water_item(quantity: str) -> str | None:
    """The GB 3838-2002 item a quantity code measures, or None."""
    try:
        return _WATER_CODES.resolve(quantity)
    except StandardsError:
        return None


def air_rating(hourly: Mapping[str, Sequence[float | None]]) -> dict[str, Any] | None:
    """The real-time AQI from hourly means per pollutant (oldest first), or None.

    Args:
        hourly: pollutant code (``pm2_5``, ``o3``, ...) -> hourly means, the newest last;
            None where an hour has no valid mean.
    """
    recent = {code: list(hours) for code, hours in hourly.items() if code in AIR_POLLUTANTS}
    for code, hours in list(recent.items()):
        while hours and hours[-1] is None:  # an hour not begun yet: rate the last one with data
            hours.pop()
        if not hours:
            del recent[code]
    if not recent:
        return None
    try:
        report = hourly_report(recent)
    except StandardsError:
        return None
    if report.result is None:
        return None
    out = aqi_dict(report.result)
    return {"kind": "aqi", "rank": float(out["level"]), **out}


def water_rating(values: Mapping[str, float], target: str | None) -> dict[str, Any] | None:
    """The class of the newest values (keyed by quantity code) against ``target``, or None."""
    items = {}
    for quantity, value in values.items():
        item = water_item(quantity)
        if item is not None:
            items[item] = value
    try:
        result = classify(items)
    except StandardsError:
        return None
    goal = WaterClass.parse(target) if target else None
    failing = [i.item for i in worse_than(result, goal)] if goal else []
    meets = goal is None or result.overall <= goal
    return {
        "kind": "water",
        "rank": float(result.overall) + (0.0 if meets else 3.0),
        "class": result.overall.label,
        "class_number": int(result.overall),
        "class_en": result.overall.label_en,
        "status": STATUS[result.overall][0],
        "status_en": STATUS[result.overall][1],
        "target_class": None if goal is None else goal.label,
        "meets_target": meets,
        "failing_items": failing,
    }


def noise_rating(level_db: float, zone: str | None, at: datetime, tz: str) -> dict[str, Any]:
    """An hourly Leq at ``at`` against the zone's limit for the local period."""
    local = at.astimezone(ZoneInfo(tz)).time()
    night = local >= NIGHT_START or local < DAY_START
    limits = ZONE_LIMITS.get(zone or "")
    limit = None if limits is None else limits[1 if night else 0]
    over = None if limit is None else max(0.0, round(level_db - limit, 1))
    return {
        "kind": "noise",
        "rank": 1.0 + (over or 0.0) / 5.0 + (1.0 if over else 0.0),
        "leq_db": round(level_db, 1),
        "zone": zone,
        "period": "night" if night else "day",
        "limit_db": limit,
        "exceedance_db": over,
        "exceeds": bool(over),
    }
