"""Deterministic physical signals for simulated sensors.

Layer: pure functions. Time is an argument (UTC epoch seconds) and noise comes
from a seed, so the same seed, key and second give the same value on every run
and every machine. No I/O, no clock, no global random state.

Each quantity follows a daily cosine (peak at a local hour) plus bounded
uniform noise, clamped to the plausible range of ``quantities.yaml``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from device_profiles import Point, Quantity

# China Standard Time: the programme's stations see their daily cycle in UTC+8.
DEFAULT_UTC_OFFSET_H = 8.0

ValueGenerator = Callable[[int, Point, Quantity, float], float]
"""``(slave, point, quantity, time_s) -> value``: what a simulated sensor holds at a time."""


@dataclass(frozen=True, slots=True)
class Diurnal:
    """A daily cycle: ``centre ± amplitude``, highest at ``peak_hour``, with ``± noise``."""

    centre: float
    amplitude: float
    peak_hour: float
    noise: float


# Typical daily shapes of what demo stations measure; other quantities get a
# shape derived from their range (see shape_for).
TYPICAL: dict[str, Diurnal] = {
    "air_temperature": Diurnal(centre=18.0, amplitude=6.0, peak_hour=14.0, noise=0.3),
    "relative_humidity": Diurnal(centre=65.0, amplitude=15.0, peak_hour=5.0, noise=1.0),
    "air_pressure": Diurnal(centre=101.3, amplitude=0.2, peak_hour=10.0, noise=0.02),
    "wind_speed": Diurnal(centre=3.0, amplitude=1.5, peak_hour=15.0, noise=0.5),
    "wind_direction": Diurnal(centre=180.0, amplitude=60.0, peak_hour=16.0, noise=15.0),
    "pm2_5": Diurnal(centre=35.0, amplitude=15.0, peak_hour=8.0, noise=3.0),
    "pm10": Diurnal(centre=60.0, amplitude=20.0, peak_hour=8.0, noise=4.0),
    "pm1_0": Diurnal(centre=20.0, amplitude=8.0, peak_hour=8.0, noise=2.0),
    "so2": Diurnal(centre=10.0, amplitude=4.0, peak_hour=9.0, noise=1.0),
    "no2": Diurnal(centre=30.0, amplitude=12.0, peak_hour=8.0, noise=2.0),
    "co": Diurnal(centre=0.8, amplitude=0.3, peak_hour=8.0, noise=0.05),
    "o3": Diurnal(centre=80.0, amplitude=40.0, peak_hour=15.0, noise=5.0),
}


def shape_for(quantity: Quantity) -> Diurnal:
    """The daily shape of ``quantity``: a typical one, else one inside its range."""
    if quantity.code in TYPICAL:
        return TYPICAL[quantity.code]
    span = quantity.max - quantity.min
    return Diurnal(
        centre=quantity.min + 0.3 * span,
        amplitude=0.1 * span,
        peak_hour=14.0,
        noise=0.01 * span,
    )


def diurnal_value(
    quantity: Quantity,
    time_s: float,
    *,
    seed: int = 0,
    key: str = "",
    utc_offset_h: float = DEFAULT_UTC_OFFSET_H,
) -> float:
    """The value of ``quantity`` at ``time_s``, within its plausible range.

    Args:
        quantity: the vocabulary entry (its code picks the shape, its range clamps).
        time_s: UTC epoch seconds.
        seed: run seed; the noise of second ``int(time_s)`` depends only on it and ``key``.
        key: tells apart sensors of the same quantity (e.g. ``"1:temperature"``).
        utc_offset_h: local time of the station, for the daily cycle.
    """
    shape = shape_for(quantity)
    hour = (time_s / 3600.0 + utc_offset_h) % 24.0
    daily = shape.amplitude * math.cos(2.0 * math.pi * (hour - shape.peak_hour) / 24.0)
    noise = random.Random(f"{seed}:{key}:{int(time_s)}").uniform(-shape.noise, shape.noise)
    return min(quantity.max, max(quantity.min, shape.centre + daily + noise))


def diurnal(seed: int = 0, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> ValueGenerator:
    """A :data:`ValueGenerator` giving every slave and point its own daily signal."""

    def generate(slave: int, point: Point, quantity: Quantity, time_s: float) -> float:
        key = f"{slave}:{point.name}"
        return diurnal_value(quantity, time_s, seed=seed, key=key, utc_offset_h=utc_offset_h)

    return generate
