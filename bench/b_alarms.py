"""Alarm evaluation: readings per second through 1,000 active rules (pure evaluator)."""

from __future__ import annotations

import random
import time

from pydantic import TypeAdapter

from cloud.alarms import Evaluator, Rule, Sample, Series

RULE = TypeAdapter(Rule)
TENANTS = 10


def _rules(count: int) -> list[Rule]:
    rng = random.Random(10)
    kinds = [
        lambda i: {"kind": "threshold", "above": rng.uniform(20, 40), "for_s": 300},
        lambda i: {"kind": "rate", "per_hour": 5.0, "window_s": 1800},
        lambda i: {"kind": "aqi", "level": 3},
        lambda i: {"kind": "absence", "multiple": 3},
    ]
    return [
        RULE.validate_python(
            {"id": f"r{i}", "tenant": f"t{i % TENANTS}", "scope": {"sites": [f"s{i % 100}"]}}
            | kinds[i % len(kinds)](i)
        )
        for i in range(count)
    ]


def _samples(count: int) -> list[Sample]:
    rng = random.Random(11)
    series = [
        Series(f"t{i % TENANTS}", f"gw{i}", "d1", q, site=f"s{i % 100}", interval_s=60)
        for i in range(200)
        for q in ("air_temperature", "pm2_5")
    ]
    return [
        Sample(series[i % len(series)], 1_796_000_000_000 + i * 1000, rng.uniform(0, 150))
        for i in range(count)
    ]


def run() -> None:
    """Print evaluation throughput with 1,000 rules over 400 series."""
    batch = _samples(20_000)
    for count in (0, 1000):
        ev = Evaluator(_rules(count))
        start = time.perf_counter()
        out = ev.feed(batch, 1_796_000_000_000 + 20_000 * 1000)
        elapsed = time.perf_counter() - start
        print(
            f"  {count:5d} rules: {len(batch) / elapsed:10,.0f} readings/s "
            f"({elapsed / len(batch) * 1e6:6.1f} µs/reading, {len(out)} transitions)"
        )
    ev = Evaluator(_rules(1000))
    ev.feed(batch, 0)
    start = time.perf_counter()
    ev.tick(1_796_000_000_000 + 10**8)
    print(f"  tick over {len(ev.snapshot())} states: {(time.perf_counter() - start) * 1e3:.1f} ms")
