"""Air quality index per HJ 633-2012: IAQI per pollutant, AQI, level, primary pollutants.

Layer: pure functions over numbers; no I/O, no clock. Averaging hourly data into
the means the index is computed from is :mod:`cloud.standards.averages`.

The two reports of the standard:

* ``daily`` (日报): 24-h means of SO2, NO2, PM10, PM2.5 and CO, the daily maximum
  1-h O3 (``o3``) and the daily maximum 8-h moving mean of O3 (``o3_8h``): the seven
  indicators of the daily report as HJ 633 §5 lists them (its text was not
  retrievable here; the O3 rows and note (3) are in Table 1).
* ``hourly`` (实时报): 1-h means of SO2, NO2, CO and O3, the 8-h moving mean of O3,
  and PM10/PM2.5 means rated on their 24-h rows (the standard has no 1-h row).
  The real-time report's nine indicators (six 1-h means, the O3 8-h moving mean,
  the PM 24-h moving means) are listed by the Shenzhen bureau at
  https://meeb.sz.gov.cn/hdjl/ywzsk/ggfwl/content/post_12340768.html.

IAQI_P = (IAQI_Hi - IAQI_Lo) / (BP_Hi - BP_Lo) x (C_P - BP_Lo) + IAQI_Lo, computed
in exact decimal arithmetic and rounded up to an integer (进位取整), so a
concentration on a breakpoint gives exactly that breakpoint's IAQI. Above the
top breakpoint the IAQI is reported as 500 and flagged ``beyond_scale``.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from cloud.standards.aqi_tables import (
    DAILY,
    EXCEEDING_ABOVE,
    HOURLY,
    IAQI_STEPS,
    LEVELS,
    O3_8H_CEILING,
    PRIMARY_ABOVE,
    SO2_1H_CEILING,
)
from cloud.standards.codes import ItemCodes
from cloud.standards.errors import InvalidValueError, MissingValueError
from cloud.standards.numbers import checked, exact

Mode = Literal["daily", "hourly"]
_NEAR_INTEGER = 1e-6  # closer than this to an integer, the IAQI is computed exactly

# The pollutant codes of quantities.yaml, their aliases and HJ 212-2017 codes.
# so2_24h serves only the hourly SO2 rule (a 1-h value above 800 µg/m³).
POLLUTANTS: Mapping[str, ItemCodes] = {
    "so2": ItemCodes(("so2_1h",), "a21026"),
    "no2": ItemCodes(("no2_1h",), "a21004"),
    "pm10": ItemCodes((), "a34002"),
    "pm2_5": ItemCodes(("pm25",), "a34004"),
    "co": ItemCodes(("co_1h",), "a21005"),
    "o3": ItemCodes(("o3_1h",), "a05024"),
    "o3_8h": ItemCodes(("o3_8",), None),
    "so2_24h": ItemCodes(("so2_24",), None),
}
UNITS: Mapping[str, str] = {code: "mg/m³" if code == "co" else "µg/m³" for code in POLLUTANTS}


@dataclass(frozen=True)
class Level:
    """One row of HJ 633 Table 2 with its Appendix A colour."""

    number: int
    name: str
    roman: str
    category: str
    category_en: str
    colour_name: str
    rgb: tuple[int, int, int]

    @property
    def hex(self) -> str:
        """The colour as ``#RRGGBB``."""
        return "#{:02X}{:02X}{:02X}".format(*self.rgb)


_LEVELS = tuple(
    (upper, Level(number, name, roman, category, category_en, colour, rgb))
    for number, (upper, name, roman, category, category_en, colour, rgb) in enumerate(
        LEVELS, start=1
    )
)


@dataclass(frozen=True)
class SubIndex:
    """The IAQI of one pollutant, and how the standard's notes shaped it."""

    pollutant: str
    concentration: float
    iaqi: int
    beyond_scale: bool = False
    note: str | None = None


@dataclass(frozen=True)
class AqiResult:
    """The AQI of a set of concentrations, with everything HJ 633 reports next to it."""

    mode: Mode
    sub_indices: tuple[SubIndex, ...]
    aqi: int
    level: Level
    primary: tuple[str, ...]
    exceeding: tuple[str, ...]


def level_of(aqi: int) -> Level:
    """The level (一级…六级), category and colour of an AQI value.

    Raises:
        InvalidValueError: ``aqi`` is negative.
    """
    if aqi < 0:
        raise InvalidValueError("aqi", aqi, "is negative")
    for upper, level in _LEVELS:
        if upper is None or aqi <= upper:
            return level
    raise AssertionError("unreachable: the last level has no upper bound")  # pragma: no cover


def iaqi(concentration: float, breakpoints: Sequence[float]) -> tuple[int, bool]:
    """The IAQI of ``concentration`` on one row of Table 1, and whether it is beyond the row.

    Raises:
        InvalidValueError: the concentration is negative or not finite.
    """
    amount = checked("concentration", concentration)
    top = len(breakpoints) - 1
    if amount >= breakpoints[top]:  # float against integer breakpoints compares exactly
        return IAQI_STEPS[top], amount > breakpoints[top]
    hi = max(1, bisect_left(breakpoints, amount))
    bp_lo, bp_hi = breakpoints[hi - 1], breakpoints[hi]
    i_lo, i_hi = IAQI_STEPS[hi - 1], IAQI_STEPS[hi]
    approx = (i_hi - i_lo) / (bp_hi - bp_lo) * (amount - bp_lo) + i_lo
    if abs(approx - round(approx)) > _NEAR_INTEGER:
        return math.ceil(approx), False  # far from an integer: float rounding cannot matter
    value = Fraction(i_hi - i_lo) / (Fraction(bp_hi) - Fraction(bp_lo))
    value = value * (exact("concentration", amount) - Fraction(bp_lo)) + i_lo
    return math.ceil(value), False


def air_quality_index(concentrations: Mapping[str, float], mode: Mode = "daily") -> AqiResult:
    """IAQI of every pollutant given, the AQI, its level, primary and exceeding pollutants.

    ``concentrations`` is keyed by the codes of :data:`POLLUTANTS` (resolve other
    spellings with :func:`cloud.standards.codes.code_book` first).

    Raises:
        InvalidValueError: a value is negative or not finite, or a code is unknown here.
        MissingValueError: a rule of the standard needs a value not given (the
            24-h SO2 for a 1-h SO2 above 800; the 1-h O3 for an 8-h O3 above 800).
    """
    rated = {code: value for code, value in concentrations.items() if code != "so2_24h"}
    for code, value in concentrations.items():
        if code not in POLLUTANTS:
            raise InvalidValueError(code, value, "is not an AQI pollutant")
        checked(code, value)
    if "so2_24h" in concentrations and mode == "daily":
        raise InvalidValueError("so2_24h", concentrations["so2_24h"], "is for --hourly; give so2")
    if not rated:
        raise MissingValueError("a pollutant", "give at least one of " + ", ".join(DAILY))
    table = DAILY if mode == "daily" else HOURLY
    subs = tuple(
        _sub_index(code, value, table, concentrations, mode) for code, value in rated.items()
    )
    aqi = max(sub.iaqi for sub in subs)
    primary = tuple(s.pollutant for s in subs if s.iaqi == aqi) if aqi > PRIMARY_ABOVE else ()
    exceeding = tuple(s.pollutant for s in subs if s.iaqi > EXCEEDING_ABOVE)
    return AqiResult(mode, subs, aqi, level_of(aqi), primary, exceeding)


def _sub_index(
    code: str,
    value: float,
    table: Mapping[str, Sequence[float]],
    given: Mapping[str, float],
    mode: Mode,
) -> SubIndex:
    if code == "so2" and mode == "hourly" and value > SO2_1H_CEILING:
        if "so2_24h" not in given:
            raise MissingValueError(
                "so2_24h", "a 1-h SO2 above 800 µg/m³ is rated by its 24-h mean (HJ 633 Table 1)"
            )
        index, beyond = iaqi(given["so2_24h"], DAILY["so2"])
        return SubIndex(code, value, index, beyond, "1-h above 800: rated by the 24-h mean")
    if code == "o3_8h" and value > O3_8H_CEILING:
        if "o3" not in given:
            raise MissingValueError(
                "o3", "an 8-h O3 above 800 µg/m³ is rated by its 1-h value (HJ 633 Table 1)"
            )
        index, beyond = iaqi(given["o3"], table["o3"])
        return SubIndex(code, value, index, beyond, "8-h above 800: rated by the 1-h value")
    index, beyond = iaqi(value, table[code])
    return SubIndex(code, value, index, beyond)
