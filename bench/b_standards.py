"""Standards: daily AQI reports from hourly means, IAQI rate, water class, Ld/Ln/Ldn."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from bench.timing import best_of
from cloud.standards import air_quality_index, classify, day_night
from cloud.standards.aqi_reports import daily_report

POLLUTANTS = {"so2": 20, "no2": 45, "pm10": 90, "pm2_5": 60, "co": 1.0, "o3": 120}


def _station_day(rng: random.Random) -> dict[str, list[float | None]]:
    day: dict[str, list[float | None]] = {}
    for code, level in POLLUTANTS.items():
        day[code] = [
            None if rng.random() < 0.03 else round(rng.uniform(0.3, 1.8) * level, 1)
            for _ in range(24)
        ]
    return day


def run() -> None:
    """Print the time of one day's AQI for 100 stations and per-call rates."""
    rng = random.Random(8)
    stations = [_station_day(rng) for _ in range(100)]
    t_day = best_of(lambda: [daily_report(day) for day in stations], repeat=5)
    print(f"  daily AQI of 100 stations from hourly means (6 pollutants): {t_day * 1e3:.1f} ms")
    values = {"pm2_5": 80.3, "pm10": 121.7, "so2": 12.0, "no2": 41.0, "co": 0.8, "o3_8h": 133.0}
    t_aqi = best_of(lambda: air_quality_index(values), number=2000)
    print(f"  air_quality_index, 6 pollutants: {t_aqi * 1e6:.1f} µs/call")
    sample = {"dissolved_oxygen": 5.5, "ammonia_nitrogen": 0.42, "cod": 18.0, "ph": 7.6}
    t_water = best_of(lambda: classify(sample), number=2000)
    print(f"  water class, 4 items: {t_water * 1e6:.1f} µs/call")
    start = datetime(2026, 11, 30, tzinfo=UTC)
    minutes = [(start + timedelta(minutes=m), rng.uniform(40, 70)) for m in range(1440)]
    t_noise = best_of(lambda: day_night(minutes), repeat=5)
    print(f"  Ld/Ln/Ldn of one day of 1-minute levels: {t_noise * 1e3:.2f} ms")
