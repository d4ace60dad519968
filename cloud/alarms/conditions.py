"""Per rule kind: does a sample put its subject in alarm, and at which level?

Layer: pure functions of a rule, the subject's state and one sample; no I/O, no
clock. Each returns a :class:`Verdict` (level 0 = fine) or ``None`` when the
sample says nothing for this rule (a day reading for a night rule, a rate with
no earlier point, a site without a target class). Debouncing (minimum durations)
and transitions are the evaluator's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from cloud.alarms.events import Sample
from cloud.alarms.rules import (
    GEO_LEVELS,
    AqiRule,
    GeohazardRule,
    NoiseRule,
    RateRule,
    ThresholdRule,
    WaterClassRule,
)
from cloud.alarms.state import RuleState
from cloud.standards.aqi import POLLUTANTS, iaqi, level_of
from cloud.standards.aqi_tables import HOURLY
from cloud.standards.codes import code_book
from cloud.standards.errors import StandardsError
from cloud.standards.noise import DAY_START, NIGHT_START, ZONE_LIMITS, leq, time_zone
from cloud.standards.water import ITEMS, WaterClass, item_class

MS_PER_HOUR = 3_600_000
MS_PER_DAY = 24 * MS_PER_HOUR
_MIN_COVERAGE = 0.75
_AIR = code_book(POLLUTANTS)
_WATER = code_book(ITEMS)


@dataclass(frozen=True)
class Verdict:
    """The level a sample shows (0: fine), its name and a line for people."""

    level: int
    label: str = ""
    detail: str = ""


FINE = Verdict(0)


def threshold(rule: ThresholdRule, state: RuleState, sample: Sample) -> Verdict:
    """Beyond ``above``/``below``; once open, in alarm until back past ``clear``."""
    value = sample.value
    if rule.above is not None:
        limit = rule.clear if state.level and rule.clear is not None else rule.above
        if value <= limit:
            return FINE
        return Verdict(1, rule.severity, f"{sample.series.quantity} {value:g} above {rule.above:g}")
    assert rule.below is not None  # noqa: S101 - the model guarantees one direction
    limit = rule.clear if state.level and rule.clear is not None else rule.below
    if value >= limit:
        return FINE
    return Verdict(1, rule.severity, f"{sample.series.quantity} {value:g} below {rule.below:g}")


def rate(rule: RateRule, state: RuleState, sample: Sample) -> Verdict | None:
    """The change per hour from the oldest point of the window to this sample."""
    points = state.push("values", (sample.time_ms, sample.value), rule.window_s * 1000)
    first_ms, first = points[0]
    if first_ms >= sample.time_ms:
        return None
    per_hour = (sample.value - first) / ((sample.time_ms - first_ms) / MS_PER_HOUR)
    if rule.direction == "rise":
        bad = per_hour > rule.per_hour
    elif rule.direction == "fall":
        bad = per_hour < -rule.per_hour
    else:
        bad = abs(per_hour) > rule.per_hour
    if not bad:
        return FINE
    detail = f"{sample.series.quantity} changes {per_hour:+.3g}/h (limit {rule.per_hour:g}/h)"
    return Verdict(1, rule.severity, detail)


def aqi(rule: AqiRule, state: RuleState, sample: Sample) -> Verdict | None:
    """The pollutant's 1-h IAQI level (HJ 633 real-time rows), from ``rule.level`` up."""
    found = _hourly_row(sample.series.quantity)
    if found is None:
        return None
    pollutant, row = found
    value = _averaged(rule, state, sample)
    if value is None:
        return None
    index, _ = iaqi(value, row)
    level = level_of(index)
    if level.number < rule.level:
        return FINE
    detail = f"{pollutant} {value:g}: IAQI {index}, {level.name} {level.category}"
    return Verdict(level.number, level.name, detail)


@lru_cache(maxsize=1024)
def _hourly_row(quantity: str) -> tuple[str, Sequence[float]] | None:
    """The pollutant a quantity names and its 1-h breakpoints; None if it is none."""
    try:
        pollutant = _AIR.resolve(quantity)
        return pollutant, HOURLY[pollutant]
    except (StandardsError, KeyError):
        return None


def water_class(rule: WaterClassRule, state: RuleState, sample: Sample) -> Verdict | None:
    """The item's class (GB 3838) against the rule's or the site's target class."""
    series = sample.series
    target_text = series.water_target if rule.worse_than == "site" else rule.worse_than
    body = series.water_body if rule.water_body == "site" else rule.water_body
    if target_text is None:
        return None
    try:
        item = _WATER.resolve(series.quantity)
        if item == "total_nitrogen" and body != "lake":
            return None
        target = WaterClass.parse(target_text)
        value = _averaged(rule, state, sample)
        if value is None:
            return None
        found = item_class(item, value, body or "river")
    except StandardsError:
        return None
    if found <= target:
        return FINE
    detail = f"{item} {value:.3g}: class {found.label}, target {target.label}"
    return Verdict(int(found), found.label, detail)


def noise(rule: NoiseRule, state: RuleState, sample: Sample) -> Verdict | None:
    """A level over the zone's limit for the period the sample falls in."""
    series = sample.series
    zone = series.noise_zone if rule.zone == "site" else rule.zone
    period = _period(series.tz, sample.time_ms)
    if series.quantity != rule.quantity or zone not in ZONE_LIMITS or period is None:
        return None
    if rule.period not in (period, "both"):
        return None
    limit = ZONE_LIMITS[zone][0 if period == "day" else 1] + rule.margin_db
    level = _averaged(rule, state, sample, energy=True)
    if level is None or level <= limit:
        return None if level is None else FINE
    detail = f"{period} level {level:.1f} dB(A) over zone {zone} limit {limit:g}"
    return Verdict(1, rule.severity, detail)


def _period(tz_name: str, time_ms: int) -> str | None:
    """``day`` or ``night`` at the station (GB 3096: 06:00-22:00 is day), or ``None``."""
    try:
        tz = time_zone(tz_name)
    except StandardsError:
        return None
    local = datetime.fromtimestamp(time_ms / 1000, UTC).astimezone(tz).time()
    return "day" if DAY_START <= local < NIGHT_START else "night"


def geohazard(rule: GeohazardRule, state: RuleState, sample: Sample) -> Verdict | None:
    """Rainfall over its window AND displacement rate over its window, per level."""
    quantity = sample.series.quantity
    point = (sample.time_ms, sample.value)
    if _seen(rule, state, quantity, sample.time_ms):
        return None  # this gauge's or meter's reading was counted already
    if quantity == rule.rain_quantity:
        rain_mm = _rain_since_last(rule, state, point)
        if rain_mm is not None:
            state.push("rain", (sample.time_ms, rain_mm), rule.rain_window_s * 1000)
    elif quantity == rule.displacement_quantity:
        state.push("displacement", point, rule.rate_window_s * 1000)
    else:
        return None
    rain = state.windows.get("rain", [])
    moves = state.windows.get("displacement", [])
    if not rain or len(moves) < 2 or moves[-1][0] <= moves[0][0]:
        return None
    rain_mm = sum(mm for t, mm in rain if t > sample.time_ms - rule.rain_window_s * 1000)
    per_day = (moves[-1][1] - moves[0][1]) / ((moves[-1][0] - moves[0][0]) / MS_PER_DAY)
    reached = [
        limits
        for limits in rule.levels
        if rain_mm > limits.rain_mm and per_day > limits.displacement_mm_per_day
    ]
    if not reached:
        return FINE
    top = reached[-1]
    detail = f"rain {rain_mm:.1f} mm and displacement {per_day:.2f} mm/d: {top.level}"
    return Verdict(GEO_LEVELS.index(top.level) + 1, top.level, detail)


def _seen(rule: GeohazardRule, state: RuleState, quantity: str, time_ms: int) -> bool:
    """True if the station's newest rain or displacement point is not older than ``time_ms``."""
    if quantity == rule.displacement_quantity:
        name = "displacement"
    elif rule.rain_reading == "increment":
        name = "rain"
    else:
        name = "rain_counter"
    points = state.windows.get(name)
    return bool(points) and points is not None and points[-1][0] >= time_ms


def _rain_since_last(
    rule: GeohazardRule, state: RuleState, point: tuple[int, float]
) -> float | None:
    """The rain a reading adds: itself, or the counter's rise (a drop is a reset to zero)."""
    if rule.rain_reading == "increment":
        return point[1]
    previous = state.windows.get("rain_counter")
    state.windows["rain_counter"] = [point]
    if not previous:
        return None  # the first counter reading only sets the baseline
    last = previous[-1][1]
    return point[1] - last if point[1] >= last else point[1]


def _averaged(
    rule: AqiRule | WaterClassRule | NoiseRule,
    state: RuleState,
    sample: Sample,
    *,
    energy: bool = False,
) -> float | None:
    """The reading, or the moving (energy) mean of the rule's ``average_s`` window.

    ``None`` until the readings span 3/4 of the window (GB 3095-2012 asks 45 minutes
    of data for a 1-h mean), so a lone first reading is not taken for the mean.
    """
    if not rule.average_s:
        return sample.value
    window_ms = rule.average_s * 1000
    points = state.push("average", (sample.time_ms, sample.value), window_ms)
    if points[-1][0] - points[0][0] < _MIN_COVERAGE * window_ms:
        return None
    if energy:
        return leq(v for _, v in points)
    return math.fsum(v for _, v in points) / len(points)
