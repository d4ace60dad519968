"""What the alarm evaluator reads and what it reports.

Layer: plain immutable data; no I/O. Times are UTC milliseconds since the epoch,
as in telemetry batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal, NamedTuple

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Series:
    """One series and what its station says about it (from the site registry)."""

    tenant: str
    gateway: str
    device: str
    quantity: str
    site: str | None = None
    region: str | None = None
    interval_s: float | None = None  # the series' own poll interval, for absence rules
    tz: str = DEFAULT_TZ  # the station's time zone, for day and night
    water_target: str | None = None  # the section's target class (GB 3838), e.g. "III"
    water_body: Literal["river", "lake"] | None = None
    noise_zone: str | None = None  # the functional zone (GB 3096), e.g. "1", "4a"

    @cached_property  # evaluated for every reading and rule: computed once per series
    def key(self) -> str:
        """``gateway/device/quantity``: the series' identity in alarm keys."""
        return f"{self.gateway}/{self.device}/{self.quantity}"

    @property
    def station(self) -> str:
        """The station the series belongs to: its site, else its gateway."""
        return self.site or self.gateway


class Sample(NamedTuple):
    """One reading of a series (a tuple: made for every reading evaluated)."""

    series: Series
    time_ms: int
    value: float


@dataclass(frozen=True)
class GatewayStatus:
    """A gateway's presence, as its ``up/status`` reports it."""

    tenant: str
    gateway: str
    time_ms: int
    online: bool
    site: str | None = None
    region: str | None = None


TransitionKind = Literal["open", "level", "resolve"]


@dataclass(frozen=True)
class Transition:
    """An alarm opened, changed level, or resolved.

    ``subject`` is what the alarm is about: a series key, a station (geohazard) or a
    gateway (absence). ``late`` marks a transition caused by data that arrived
    long after it was measured (backfill): record it, do not notify.
    """

    rule_id: str
    tenant: str
    subject: str
    kind: TransitionKind
    time_ms: int
    level: str
    value: float | None
    detail: str
    late: bool = False

    @property
    def alarm_key(self) -> str:
        """``rule_id|subject``: one open alarm at most per key."""
        return f"{self.rule_id}|{self.subject}"
