"""The daily and real-time AQI reports of a station, from its hourly means.

Layer: pure; no I/O. Glue between :mod:`cloud.standards.averages` (which means
are valid) and :mod:`cloud.standards.aqi` (the index), for callers that hold
hourly rollups per pollutant: the query API per station and day, and alarms.

A pollutant whose mean is not valid (too few hours, GB 3095-2012) is left out of
the index, as the standard leaves out an invalid mean; the result says which.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cloud.standards.aqi import AqiResult, Mode, air_quality_index
from cloud.standards.aqi_tables import SO2_1H_CEILING
from cloud.standards.averages import (
    HOURS_PER_DAY,
    MIN_HOURS_24H,
    WINDOW_8H,
    daily_max_8h,
    daily_mean,
    rolling_8h,
    valid_mean,
)

Hourly = Sequence[float | None]
_MEAN_24H = ("so2", "no2", "pm10", "pm2_5", "co")


@dataclass(frozen=True)
class Report:
    """An AQI report, the means it was computed from and the pollutants left out."""

    result: AqiResult | None
    means: Mapping[str, float]
    invalid: tuple[str, ...]


def daily_report(day: Mapping[str, Hourly]) -> Report:
    """The daily report (日报) from one local day's 24 hourly means per pollutant.

    ``day`` is keyed by pollutant (``so2``, ``no2``, ``pm10``, ``pm2_5``, ``co``,
    ``o3``); ``o3`` yields both the daily maximum 1-h mean and the daily maximum
    8-h moving mean.

    Raises:
        ValueError: a sequence does not hold 24 hours.
    """
    means: dict[str, float] = {}
    invalid: list[str] = []
    for code, hours in day.items():
        if code == "o3":
            _check_day(hours)
            _keep(means, invalid, "o3", _max_present(hours))
            _keep(means, invalid, "o3_8h", daily_max_8h(hours))
        elif code in _MEAN_24H:
            _keep(means, invalid, code, daily_mean(hours))
    return Report(_index(means, "daily"), means, tuple(invalid))


def hourly_report(recent: Mapping[str, Hourly], pm: Literal["1h", "24h"] = "1h") -> Report:
    """The real-time report (实时报) at the last hour of ``recent``.

    ``recent`` holds, per pollutant, the hourly means up to and including the
    report hour (the last entry); give at least 8 hours of O3 for its 8-h moving
    mean and 24 hours of SO2 for the 1-h SO2 above 800 rule. PM10 and PM2.5 are
    rated on their 24-h rows by their 1-h mean (``pm="1h"``, as open implementations
    of the real-time report do) or by their 24-h moving mean (``pm="24h"``, at least
    20 of the last 24 hours); the real-time report publishes both.
    """
    means: dict[str, float] = {}
    invalid: list[str] = []
    for code, hours in recent.items():
        if code not in (*_MEAN_24H, "o3") or not hours:
            continue
        if code in ("pm10", "pm2_5") and pm == "24h":
            _keep(means, invalid, code, valid_mean(hours[-HOURS_PER_DAY:], MIN_HOURS_24H))
            continue
        _keep(means, invalid, code, hours[-1])
        if code == "o3" and len(hours) >= WINDOW_8H:
            _keep(means, invalid, "o3_8h", rolling_8h(hours[-WINDOW_8H:])[-1])
        if code == "so2" and (hours[-1] or 0) > SO2_1H_CEILING:
            mean = valid_mean(hours[-HOURS_PER_DAY:], MIN_HOURS_24H)
            if mean is None:  # the rule needs a valid 24-h mean: leave SO2 out, do not guess
                del means["so2"]
                invalid.append("so2")
            else:
                means["so2_24h"] = mean
    return Report(_index(means, "hourly"), means, tuple(invalid))


def _index(means: Mapping[str, float], mode: Mode) -> AqiResult | None:
    return air_quality_index(means, mode) if set(means) - {"so2_24h"} else None


def _keep(means: dict[str, float], invalid: list[str], code: str, value: float | None) -> None:
    if value is None:
        invalid.append(code)
    else:
        means[code] = value


def _max_present(hours: Hourly) -> float | None:
    present = [h for h in hours if h is not None]
    return max(present) if present else None


def _check_day(hours: Hourly) -> None:
    if len(hours) != HOURS_PER_DAY:
        raise ValueError(f"a day has {HOURS_PER_DAY} hourly means, got {len(hours)}")
