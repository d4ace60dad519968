"""The means the AQI is computed from, with the data-validity rules of GB 3095-2012.

Layer: pure functions over hourly means; no I/O, no clock. The caller buckets
readings into hourly means first (the hourly rollups do); a missing or invalid
hour is ``None``.

Validity (GB 3095-2012 §8, Table 4, 数据统计的有效性规定; the counts below are
those of the standard as quoted in ``../shared/domain/FACTS.md`` and the issue,
the standard's table itself was not retrievable here, so they are parameters):

* a 24-h mean needs at least 20 hourly means of that day (``MIN_HOURS_24H``);
* an 8-h moving mean needs at least 6 hourly means of its 8 hours (``MIN_HOURS_8H``);
* the daily maximum 8-h mean needs at least 14 valid 8-h means among the day's
  windows (``MIN_WINDOWS_DAILY_8H``).

The 8-h moving mean at hour t averages the hourly means of hours t-7 … t (HJ 633
§3: 8小时滑动平均). The daily maximum is taken over the windows that lie wholly in
the day, i.e. those ending 08:00 … 24:00 (GB 3095-2012: 8时至24时).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, tzinfo
from statistics import fmean

MIN_HOURS_24H = 20
MIN_HOURS_8H = 6
MIN_WINDOWS_DAILY_8H = 14
HOURS_PER_DAY = 24
WINDOW_8H = 8


def valid_mean(values: Sequence[float | None], min_count: int) -> float | None:
    """The mean of the values that are present, or ``None`` when fewer than ``min_count``."""
    present = [v for v in values if v is not None]
    return fmean(present) if present and len(present) >= min_count else None


def daily_mean(hourly: Sequence[float | None], min_hours: int = MIN_HOURS_24H) -> float | None:
    """The 24-h mean of one day's hourly means, or ``None`` if the day is not valid.

    Raises:
        ValueError: ``hourly`` does not hold 24 hours.
    """
    _check_day(hourly)
    return valid_mean(hourly, min_hours)


def rolling_8h(hourly: Sequence[float | None], min_hours: int = MIN_HOURS_8H) -> list[float | None]:
    """The 8-h moving mean ending at each hour (``None`` where not valid).

    Entry i averages ``hourly[i-7 .. i]``; the first seven entries have no full
    window and are ``None`` (pass the previous day's last seven hours in front).
    """
    return [
        valid_mean(hourly[end - WINDOW_8H + 1 : end + 1], min_hours)
        if end >= WINDOW_8H - 1
        else None
        for end in range(len(hourly))
    ]


def daily_max_8h(
    hourly: Sequence[float | None],
    min_hours: int = MIN_HOURS_8H,
    min_windows: int = MIN_WINDOWS_DAILY_8H,
) -> float | None:
    """The day's maximum 8-h moving mean of O3 (windows ending 08:00 … 24:00).

    ``hourly`` holds the day's 24 hourly means, hour 0 being 00:00-01:00 local time.

    Raises:
        ValueError: ``hourly`` does not hold 24 hours.
    """
    _check_day(hourly)
    windows = rolling_8h(hourly, min_hours)[WINDOW_8H - 1 :]
    valid = [w for w in windows if w is not None]
    return max(valid) if len(valid) >= min_windows else None


def day_slots(
    hourly: Iterable[tuple[datetime, float]], day: date, tz: tzinfo
) -> list[float | None]:
    """The 24 hourly means of one local calendar day, ``None`` where an hour is missing.

    ``hourly`` holds (start of the hour, aware; mean) pairs, e.g. from the hourly
    rollup; those outside ``day`` in ``tz`` are ignored. Where daylight saving
    repeats an hour the first mean is kept; a skipped hour stays ``None``.

    Raises:
        ValueError: a naive timestamp.
    """
    slots: list[float | None] = [None] * HOURS_PER_DAY
    for start, mean in hourly:
        if start.utcoffset() is None:
            raise ValueError(f"{start.isoformat()} has no UTC offset")
        local = start.astimezone(tz)
        if local.date() == day and slots[local.hour] is None:
            slots[local.hour] = mean
    return slots


def _check_day(hourly: Sequence[float | None]) -> None:
    if len(hourly) != HOURS_PER_DAY:
        raise ValueError(f"a day has {HOURS_PER_DAY} hourly means, got {len(hourly)}")
