"""Environmental noise per GB 3096-2008: Ld, Ln, Ldn and exceedance of the zone limits.

Layer: pure functions over numbers and timestamps; no I/O, no clock.

Limits (环境噪声限值, equivalent A-weighted level L_Aeq in dB(A)), the 4b note and
the night-maximum rule as reproduced at http://www.irmawy.com/News/Newsin127.html
and http://xhguangtai.com/index.php?m=content&c=index&a=show&catid=31&id=64:
0: 50/40, 1: 55/45, 2: 60/50, 3: 65/55, 4a: 70/55, 4b: 70/60. The 4b limits apply
beside railway trunk lines approved from 2011-01-01; beside older lines through
built-up areas the background (no train passing) limit is 70/55: give such sites
zone 4a. At night a sudden noise's maximum level may exceed the limit by at most
15 dB(A). Day is 06:00-22:00 and night 22:00-06:00 local time
(http://www.job126.net/xqfff_COPY_yjzsjc.html); local governments may move the
boundaries, so both are parameters.

Levels are averaged on energy: Leq = 10·lg(mean(10^(0.1·Li))) over equal-interval
readings; Ldn = 10·lg{[16·10^(0.1·Ld) + 8·10^(0.1·(Ln+10))] / 24}.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cloud.standards.errors import InvalidValueError

DEFAULT_TZ = "Asia/Shanghai"
DAY_START = time(6)
NIGHT_START = time(22)
NIGHT_MAX_MARGIN_DB = 15.0
NIGHT_PENALTY_DB = 10.0
DAY_HOURS, NIGHT_HOURS = 16, 8

# Zone: (day limit, night limit) in dB(A).
ZONE_LIMITS: dict[str, tuple[float, float]] = {
    "0": (50, 40),
    "1": (55, 45),
    "2": (60, 50),
    "3": (65, 55),
    "4a": (70, 55),
    "4b": (70, 60),
}


@dataclass(frozen=True)
class DayNight:
    """Ld, Ln and Ldn of a set of readings (``None`` where a period has no reading)."""

    ld: float | None
    ln: float | None
    ldn: float | None
    day_count: int
    night_count: int
    night_max: float | None = None  # the highest night reading, for the Lmax rule


@dataclass(frozen=True)
class NoiseAssessment:
    """Levels against the limits of a functional zone; exceedances in dB, 0 when within."""

    zone: str
    day_limit: float
    night_limit: float
    night_max_limit: float
    ld: float | None = None
    ln: float | None = None
    lmax_night: float | None = None
    day_exceedance_db: float | None = None
    night_exceedance_db: float | None = None
    night_max_exceedance_db: float | None = None

    @property
    def exceeds(self) -> bool:
        """Whether any level given is over its limit."""
        over = (self.day_exceedance_db, self.night_exceedance_db, self.night_max_exceedance_db)
        return any(e is not None and e > 0 for e in over)


def zone_of(text: str) -> str:
    """The zone class (``0``, ``1``, ``2``, ``3``, ``4a``, ``4b``) spelt by ``text``.

    Raises:
        InvalidValueError: no such zone.
    """
    zone = text.strip().lower().removesuffix("类").removeprefix("class").strip()
    if zone not in ZONE_LIMITS:
        raise InvalidValueError("zone", text, "is not a zone of GB 3096-2008 (" + _zones() + ")")
    return zone


def leq(levels: Iterable[float]) -> float:
    """The energy mean of equal-interval levels in dB.

    Raises:
        InvalidValueError: no level, or a level that is not a finite number.
    """
    energies = [10 ** (_level("level", level) / 10) for level in levels]
    if not energies:
        raise InvalidValueError("levels", [], "is empty: an Leq needs at least one reading")
    return 10 * math.log10(math.fsum(energies) / len(energies))


def ldn(ld: float, ln: float) -> float:
    """The day-night level: 16 h at Ld and 8 h at Ln + 10 dB, energy-averaged over 24 h."""
    day = DAY_HOURS * 10 ** (_level("ld", ld) / 10)
    night = NIGHT_HOURS * 10 ** ((_level("ln", ln) + NIGHT_PENALTY_DB) / 10)
    return 10 * math.log10((day + night) / (DAY_HOURS + NIGHT_HOURS))


def day_night(
    readings: Iterable[tuple[datetime, float]],
    tz: str | tzinfo = DEFAULT_TZ,
    day_start: time = DAY_START,
    night_start: time = NIGHT_START,
) -> DayNight:
    """Ld, Ln and Ldn from equal-interval readings ``(aware timestamp, level)``.

    A reading belongs to the day when its local time is in [day_start, night_start).

    Raises:
        InvalidValueError: a naive timestamp, an unknown time zone, a bad level,
            or day_start not before night_start.
    """
    zone = time_zone(tz)
    if not day_start < night_start:
        raise InvalidValueError("day_start", str(day_start), "must be before night_start")
    day: list[float] = []
    night: list[float] = []
    for stamp, level in readings:
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            raise InvalidValueError("time", stamp.isoformat(), "has no UTC offset")
        local = stamp.astimezone(zone).time()
        (day if day_start <= local < night_start else night).append(level)
    ld = leq(day) if day else None
    ln = leq(night) if night else None
    both = ldn(ld, ln) if ld is not None and ln is not None else None
    return DayNight(ld, ln, both, len(day), len(night), max(night) if night else None)


def assess(
    zone: str, ld: float | None = None, ln: float | None = None, lmax_night: float | None = None
) -> NoiseAssessment:
    """Compare day, night and night-maximum levels with the limits of ``zone``.

    Raises:
        InvalidValueError: an unknown zone or a level that is not a finite number.
    """
    zone = zone_of(zone)
    day_limit, night_limit = ZONE_LIMITS[zone]
    night_max_limit = night_limit + NIGHT_MAX_MARGIN_DB
    return NoiseAssessment(
        zone=zone,
        day_limit=day_limit,
        night_limit=night_limit,
        night_max_limit=night_max_limit,
        ld=ld,
        ln=ln,
        lmax_night=lmax_night,
        day_exceedance_db=_over("ld", ld, day_limit),
        night_exceedance_db=_over("ln", ln, night_limit),
        night_max_exceedance_db=_over("lmax_night", lmax_night, night_max_limit),
    )


def time_zone(tz: str | tzinfo) -> tzinfo:
    """A time zone from its IANA name (or itself).

    Raises:
        InvalidValueError: no such time zone.
    """
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValueError("tz", tz, "is not an IANA time zone") from None


def _over(code: str, level: float | None, limit: float) -> float | None:
    if level is None:
        return None
    return max(0.0, round(_level(code, level) - limit, 1))


def _level(code: str, level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float) or not math.isfinite(level):
        raise InvalidValueError(code, level, "is not a finite number of dB")
    return float(level)


def _zones() -> str:
    return ", ".join(ZONE_LIMITS)
