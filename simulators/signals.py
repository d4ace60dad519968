"""Deterministic physical signals for simulated sensors.

Layer: pure functions. Time is an argument (UTC epoch seconds) and noise comes
from a seed, so the same seed, key and second give the same value on every run
and every machine. No I/O, no clock, no global random state.

:func:`diurnal_value` is the simplest model: a daily cosine (peak at a local
hour) plus bounded uniform noise. :func:`physical_value` adds what each domain
does (see :data:`MODELS`): PM episodes lasting days, soil drying between
irrigation events, day/night noise levels, dissolved oxygen falling at night,
rain events and the counters they fill, daylight. Every value is clamped to
the plausible range of ``quantities.yaml`` and is in the quantity's canonical
unit; the simulators convert it into the unit each sensor reports.
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


def physical_value(
    quantity: Quantity,
    time_s: float,
    *,
    seed: int = 0,
    key: str = "",
    utc_offset_h: float = DEFAULT_UTC_OFFSET_H,
) -> float:
    """The value of ``quantity`` at ``time_s`` under its domain's physical model.

    Quantities without a model of their own follow :func:`diurnal_value`.
    """
    model = MODELS.get(quantity.code)
    if model is None:
        return diurnal_value(quantity, time_s, seed=seed, key=key, utc_offset_h=utc_offset_h)
    clock = _Clock(time_s, utc_offset_h, seed, key)
    return min(quantity.max, max(quantity.min, model(clock)))


def physical(seed: int = 0, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> ValueGenerator:
    """A :data:`ValueGenerator` giving every slave and point its own physical signal."""

    def generate(slave: int, point: Point, quantity: Quantity, time_s: float) -> float:
        key = f"{slave}:{point.name}"
        return physical_value(quantity, time_s, seed=seed, key=key, utc_offset_h=utc_offset_h)

    return generate


@dataclass(frozen=True, slots=True)
class _Clock:
    """Local time of one simulated sensor, and its seeded randomness."""

    time_s: float
    utc_offset_h: float
    seed: int
    key: str

    @property
    def hour(self) -> float:
        """Local hour of day, 0 <= hour < 24."""
        return (self.time_s / 3600.0 + self.utc_offset_h) % 24.0

    @property
    def day(self) -> int:
        """Local day number since the epoch."""
        return int((self.time_s / 3600.0 + self.utc_offset_h) // 24)

    def rng(self, *parts: object) -> random.Random:
        """Randomness fixed by the seed, the sensor's key and ``parts`` (a day, an hour)."""
        return random.Random(":".join(str(p) for p in (self.seed, self.key, *parts)))

    def noise(self, amplitude: float) -> float:
        """Uniform noise of this second, within ``± amplitude``."""
        return self.rng("noise", int(self.time_s)).uniform(-amplitude, amplitude)

    def cycle(self, peak_hour: float) -> float:
        """Daily cosine in -1..1, highest at ``peak_hour``."""
        return math.cos(2.0 * math.pi * (self.hour - peak_hour) / 24.0)


def _daylight(clock: _Clock) -> float:
    """0 at night, rising to 1 at solar noon (13:00 local in China's single time zone)."""
    return max(0.0, math.sin(math.pi * (clock.hour - 6.0) / 14.0)) if 6 <= clock.hour <= 20 else 0.0


def _pm_episode(clock: _Clock) -> float:
    """A multiplier >= 1: haze episodes build over a day or two, then a front clears them."""
    # each local day draws an episode strength; neighbours overlap so episodes last days
    level = 0.0
    for offset in (-1, 0, 1):
        strength = clock.rng("episode", clock.day + offset).random()
        if strength > 0.7:  # about one day in three starts or continues an episode
            centre = (clock.day + offset) * 24.0 + 12.0
            now = clock.day * 24.0 + clock.hour
            level += (strength - 0.7) / 0.3 * math.exp(-(((now - centre) / 20.0) ** 2))
    return 1.0 + 3.0 * level


def _pm(base: float) -> Callable[[_Clock], float]:
    def model(clock: _Clock) -> float:
        rush = 0.25 * clock.cycle(8.0) + 0.15 * clock.cycle(20.0)  # morning and evening traffic
        return base * (1.0 + rush) * _pm_episode(clock) + clock.noise(0.05 * base)

    return model


def _soil_moisture(clock: _Clock) -> float:
    """Volumetric water content: drying after each irrigation, faster in daytime heat."""
    field_capacity, wilting = 38.0, 12.0
    # irrigation every 3 to 5 days at a seeded hour; find the last one before now
    day = clock.day
    for back in range(6):
        candidate = day - back
        every = 3 + clock.rng("irrigation-every", candidate // 5).randrange(3)
        if candidate % every == 0:
            start_h = (candidate - day) * 24.0 + 6.0 + clock.rng("irrigation", candidate).random()
            elapsed_h = clock.hour - start_h
            if elapsed_h >= 0:
                drying = math.exp(-elapsed_h / 60.0)
                return wilting + (field_capacity - wilting) * drying + clock.noise(0.2)
    return wilting + 2.0 + clock.noise(0.2)


def _noise_level(clock: _Clock) -> float:
    """LAeq of a residential street: about 58 dB(A) by day, 45 by night, peaks at rush hours."""
    daytime = 6.0 <= clock.hour < 22.0
    level = 57.0 if daytime else 45.0
    level += 4.0 * max(0.0, clock.cycle(8.0)) ** 4 + 3.0 * max(0.0, clock.cycle(18.0)) ** 4
    return level + clock.noise(2.5)


def _dissolved_oxygen(clock: _Clock) -> float:
    """A fish pond: photosynthesis lifts DO by day; respiration draws it down all night."""
    if 6.0 <= clock.hour <= 16.0:
        fraction = (clock.hour - 6.0) / 10.0  # rising from the dawn minimum to the 16:00 peak
    else:
        fraction = 1.0 - ((clock.hour - 16.0) % 24.0) / 14.0  # falling through the night
    return 4.5 + 5.0 * fraction + clock.noise(0.1)


def _rain_in_hour(clock: _Clock, day: int, hour: int) -> float:
    """Millimetres of rain in one local hour: dry most days, showers on some."""
    wet_day = clock.rng("wet-day", day).random() < 0.3
    if not wet_day:
        return 0.0
    chance = clock.rng("shower", day, hour).random()
    return 0.0 if chance < 0.6 else round((chance - 0.6) * 8.0, 1)


def _rain_since_midnight(clock: _Clock) -> float:
    hour = int(clock.hour)
    total = sum(_rain_in_hour(clock, clock.day, h) for h in range(hour))
    return total + _rain_in_hour(clock, clock.day, hour) * (clock.hour - hour)


def _rain_last_hour(clock: _Clock) -> float:
    hour = int(clock.hour)
    return _rain_in_hour(clock, clock.day, hour) * (clock.hour - hour)


def _illuminance(clock: _Clock) -> float:
    clouds = 0.4 + 0.6 * clock.rng("clouds", clock.day, int(clock.hour)).random()
    return 90_000.0 * _daylight(clock) * clouds


def _diurnal(
    centre: float, amplitude: float, peak: float, noise: float
) -> Callable[[_Clock], float]:
    def model(clock: _Clock) -> float:
        return centre + amplitude * clock.cycle(peak) + clock.noise(noise)

    return model


def _steady(value: float, noise: float, drift_per_day: float = 0.0) -> Callable[[_Clock], float]:
    def model(clock: _Clock) -> float:
        return value + drift_per_day * (clock.time_s / 86_400.0 % 365.0) + clock.noise(noise)

    return model


MODELS: dict[str, Callable[[_Clock], float]] = {
    "pm2_5": _pm(30.0),
    "pm10": _pm(55.0),
    "pm1_0": _pm(18.0),
    "soil_moisture": _soil_moisture,
    "noise_level": _noise_level,
    "dissolved_oxygen": _dissolved_oxygen,
    "oxygen_saturation": lambda clock: _dissolved_oxygen(clock) / 8.6 * 100.0,
    "rainfall": _rain_since_midnight,
    "rainfall_window": _rain_last_hour,
    "rain_tips": lambda clock: float(math.floor(_rain_since_midnight(clock) / 0.1)),
    "illuminance": _illuminance,
    "soil_temperature": _diurnal(17.0, 3.0, 16.0, 0.1),
    "water_temperature": _diurnal(22.0, 1.5, 17.0, 0.1),
    "water_ph": _diurnal(7.6, 0.3, 16.0, 0.02),  # photosynthesis takes up CO2 by day
    "soil_ph": _steady(6.8, 0.02),
    "soil_conductivity": _steady(450.0, 5.0),
    "soil_nitrogen": _steady(62.0, 1.0),
    "soil_phosphorus": _steady(24.0, 1.0),
    "soil_potassium": _steady(110.0, 2.0),
    "co2": _diurnal(1120.0, 270.0, 11.0, 18.0),  # mg/m³: about 620 ± 150 ppm indoors
    "tvoc": _diurnal(220.0, 80.0, 11.0, 10.0),
    "nh3": _diurnal(9.0, 3.0, 14.0, 0.3),  # a pig barn, mg/m³; ventilation lags the heat
    "h2s": _diurnal(0.6, 0.2, 14.0, 0.03),
    "gamma_dose_rate": _steady(0.11, 0.01),
    "orp": _diurnal(250.0, 40.0, 15.0, 3.0),
    "turbidity": _steady(12.0, 1.0),
    "water_conductivity": _steady(620.0, 5.0),
    "ammonia_nitrogen": _diurnal(0.6, 0.2, 8.0, 0.02),
    "water_level": _diurnal(2.4, 0.05, 3.0, 0.003),
    "displacement": _steady(1.2, 0.005, drift_per_day=0.003),  # a crack that creeps open
    "tilt_x": _steady(0.8, 0.01),
    "tilt_y": _steady(-0.4, 0.01),
    "heading": _steady(35.0, 0.05),
    "wind_direction_sector": lambda clock: float(
        clock.rng("sector", int(clock.time_s) // 60).randrange(8)
    ),
}


def diurnal(seed: int = 0, utc_offset_h: float = DEFAULT_UTC_OFFSET_H) -> ValueGenerator:
    """A :data:`ValueGenerator` giving every slave and point its own daily signal."""

    def generate(slave: int, point: Point, quantity: Quantity, time_s: float) -> float:
        key = f"{slave}:{point.name}"
        return diurnal_value(quantity, time_s, seed=seed, key=key, utc_offset_h=utc_offset_h)

    return generate
