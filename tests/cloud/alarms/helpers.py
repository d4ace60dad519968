"""Builders for alarm tests: series, samples on a minute grid, rules from dicts."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from cloud.alarms import Rule, Sample, Series

T0 = 1_796_000_400_000  # 2026-11-30T01:00:00Z, 09:00 in Shanghai
MINUTE = 60_000
RULE = TypeAdapter(Rule)


def series(quantity: str, **extra: Any) -> Series:
    base: dict[str, Any] = {
        "tenant": "env", "gateway": "gw-1", "device": "d1", "quantity": quantity, "site": "s1",
    }  # fmt: skip
    return Series(**(base | extra))


def samples(of: Series, values: list[float], start: int = T0, step: int = MINUTE) -> list[Sample]:
    return [Sample(of, start + i * step, v) for i, v in enumerate(values)]


def rule(**fields: Any) -> Rule:
    return RULE.validate_python({"id": "r1", "tenant": "env"} | fields)
