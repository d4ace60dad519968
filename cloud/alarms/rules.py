"""Alarm rules as data: what to watch, when to open an alarm and when to resolve it.

Layer: pydantic models and their checks; no I/O (files are :mod:`cloud.alarms.rule_files`).

Every rule belongs to one tenant (department) and is scoped to stations, gateways,
devices, quantities or regions (all optional; an empty scope is the whole tenant).
Kinds, told apart by ``kind``:

* ``threshold``: a value above ``above`` (or below ``below``); it clears only past
  ``clear`` (hysteresis), and both must hold ``for_s`` / ``clear_for_s`` seconds.
* ``rate``: the change over the last ``window_s`` seconds, per hour, beyond ``per_hour``.
* ``aqi``: the hourly IAQI level (HJ 633) of a pollutant at or above ``level``.
  ``aqi``, ``water_class`` and ``noise`` rate each reading, or with ``average_s`` the
  moving mean of the last ``average_s`` seconds (for noise the energy mean, Leq).
* ``water_class``: a GB 3838 item class worse than ``worse_than`` (or the site's target).
* ``noise``: an L_Aeq over the GB 3096 limit of the zone (or the site's zone) at night,
  by day or both, in the station's time zone.
* ``geohazard``: rainfall accumulated over ``rain_window_s`` AND the displacement rate
  over ``rate_window_s`` at one station, against blue/yellow/orange/red levels.
* ``absence``: a series, or a whole gateway, silent longer than ``after_s`` (or
  ``multiple`` times the series' own interval); a gateway whose status says offline.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.standards.errors import StandardsError
from cloud.standards.noise import ZONE_LIMITS
from cloud.standards.water import WaterClass
from device_profiles.yaml_source import LocatedError

_STRICT = ConfigDict(extra="forbid", frozen=True)
Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Seconds = Annotated[float, Field(ge=0, le=30 * 86400)]
Severity = Literal["info", "warning", "critical"]
GEO_LEVELS = ("blue", "yellow", "orange", "red")
GeoLevel = Literal["blue", "yellow", "orange", "red"]


class Scope(BaseModel):
    """Which series of the tenant a rule watches; an empty list means any."""

    model_config = _STRICT

    sites: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    quantities: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()


class _Rule(BaseModel):
    model_config = _STRICT

    id: Identifier
    tenant: Identifier
    name: str = ""
    scope: Scope = Scope()
    severity: Severity = "warning"
    enabled: bool = True
    for_s: Seconds = 0
    clear_for_s: Seconds = 0


class ThresholdRule(_Rule):
    """A value beyond a limit, with hysteresis and minimum durations."""

    kind: Literal["threshold"]
    above: float | None = None
    below: float | None = None
    clear: float | None = None

    @model_validator(mode="after")
    def _one_direction(self) -> Self:
        if (self.above is None) == (self.below is None):
            raise LocatedError(("above",), "give exactly one of above and below")
        if self.clear is not None:
            if self.above is not None and self.clear > self.above:
                raise LocatedError(("clear",), f"must not be above 'above' ({self.above})")
            if self.below is not None and self.clear < self.below:
                raise LocatedError(("clear",), f"must not be below 'below' ({self.below})")
        return self


class RateRule(_Rule):
    """The change of a value per hour over a window, beyond a limit."""

    kind: Literal["rate"]
    per_hour: float = Field(gt=0)
    direction: Literal["rise", "fall", "either"] = "rise"
    window_s: Seconds = Field(default=3600, gt=0)


class _Averaged(_Rule):
    # rate the mean of the last average_s seconds of readings (0: each reading itself);
    # 3600 rates the moving 1-h mean the standards' hourly limits are written for
    average_s: Seconds = 0


class AqiRule(_Averaged):
    """A pollutant's hourly IAQI level (1 = 一级 … 6 = 六级) at or above ``level``."""

    kind: Literal["aqi"]
    level: int = Field(ge=2, le=6)


class WaterClassRule(_Averaged):
    """A GB 3838-2002 item whose class is worse than a target class."""

    kind: Literal["water_class"]
    worse_than: str = "site"
    water_body: Literal["river", "lake", "site"] = "site"

    @model_validator(mode="after")
    def _class_is_known(self) -> Self:
        if self.worse_than != "site":
            try:
                WaterClass.parse(self.worse_than)
            except StandardsError as exc:
                raise LocatedError(("worse_than",), str(exc)) from None
        return self


class NoiseRule(_Averaged):
    """A noise level over the limit of the functional zone in a period of the day."""

    kind: Literal["noise"]
    quantity: str = "noise_level"  # the sound level series (quantities.yaml)
    zone: str = "site"
    period: Literal["night", "day", "both"] = "night"
    # above the limit by more than this: 15 checks GB 3096's night maximum (Lmax) rule
    margin_db: float = Field(default=0, ge=0, le=30)

    @model_validator(mode="after")
    def _zone_is_known(self) -> Self:
        if self.zone != "site" and self.zone not in ZONE_LIMITS:
            raise LocatedError(("zone",), f"must be site or one of {', '.join(ZONE_LIMITS)}")
        return self


class GeoLevelLimits(BaseModel):
    """One warning level: rainfall over the window AND displacement rate, both above."""

    model_config = _STRICT

    level: GeoLevel
    rain_mm: float = Field(ge=0)
    displacement_mm_per_day: float = Field(ge=0)


class GeohazardRule(_Rule):
    """Rainfall accumulation and displacement rate at one station, in four levels."""

    kind: Literal["geohazard"]
    rain_quantity: str = "rainfall"
    # "counter": the gauge reports its total since it was cleared (a drop is a reset to
    # zero); "increment": each reading is the rain since the previous one
    rain_reading: Literal["counter", "increment"] = "counter"
    displacement_quantity: str = "displacement"
    rain_window_s: Seconds = Field(default=24 * 3600, gt=0)
    rate_window_s: Seconds = Field(default=24 * 3600, gt=0)
    levels: tuple[GeoLevelLimits, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _levels_ascend(self) -> Self:
        order = [GEO_LEVELS.index(limits.level) for limits in self.levels]
        if order != sorted(set(order)):
            raise LocatedError(("levels",), "list each level once, from blue to red")
        for index in range(1, len(self.levels)):
            low, high = self.levels[index - 1], self.levels[index]
            if (
                high.rain_mm < low.rain_mm
                or high.displacement_mm_per_day < low.displacement_mm_per_day
            ):
                raise LocatedError(("levels", index), f"must not be below {low.level}'s limits")
        return self


class AbsenceRule(_Rule):
    """Silence of a series or a gateway, and gateways reported offline."""

    kind: Literal["absence"]
    target: Literal["series", "gateway"] = "series"
    after_s: Seconds | None = Field(default=None, gt=0)
    multiple: float | None = Field(default=None, gt=1)

    @model_validator(mode="after")
    def _one_limit(self) -> Self:
        if (self.after_s is None) == (self.multiple is None):
            raise LocatedError(("after_s",), "give exactly one of after_s and multiple")
        return self


Rule = Annotated[
    ThresholdRule | RateRule | AqiRule | WaterClassRule | NoiseRule | GeohazardRule | AbsenceRule,
    Field(discriminator="kind"),
]
KINDS = ("threshold", "rate", "aqi", "water_class", "noise", "geohazard", "absence")


class RuleSet(BaseModel):
    """The contents of a rule file: a list of rules with distinct ids."""

    model_config = _STRICT

    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _distinct_ids(self) -> Self:
        seen: dict[str, int] = {}
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise LocatedError(
                    ("rules", index, "id"),
                    f"{rule.id!r} is already the id of rules[{seen[rule.id]}]",
                )
            seen[rule.id] = index
        return self
