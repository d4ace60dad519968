"""What the poller tests share, whatever carries the bus (TCP, RTU on a pty, a converter).

A sink that lets a test wait for a poll cycle, the readings regrouped per device,
the simulator's point names turned into quantities, and the tolerance of one
reading: half a step of the point's resolution, in the canonical unit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from device_profiles import Profile, builtin_profile, load_quantities, resolution
from device_profiles.measure import canonical_step, from_canonical
from wire import Reading

JXCT = builtin_profile("jxct-th-rs485")


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def devices(slaves: dict[str, int], interval_s: float, model: str = JXCT.model) -> list[Any]:
    """The ``devices:`` list of a bus: device id -> slave, all of ``model``."""
    return [
        {"id": device, "model": model, "slave": slave, "interval_s": interval_s}
        for device, slave in slaves.items()
    ]


class Sink:
    """Collects what the poller stores, and lets a test wait for a poll cycle."""

    def __init__(self) -> None:
        self.cycles: list[list[Reading]] = []
        self.arrived = asyncio.Event()

    async def __call__(self, readings: list[Reading]) -> None:
        self.cycles.append(readings)
        self.arrived.set()


async def discard(_readings: list[Reading]) -> None:
    """A sink for tests that only look at what :meth:`poll` returns."""


def by_device(readings: list[Reading]) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for reading in readings:
        result.setdefault(reading.device, {})[reading.quantity] = reading.value
    return result


def as_quantities(served: dict[str, float], profile: Profile = JXCT) -> dict[str, float]:
    return {profile.point(name).quantity: value for name, value in served.items()}


def tolerance(profile: Profile, name: str, value: float) -> float:
    """Half a step of the point's resolution near ``value``, in the canonical unit."""
    point = profile.point(name)
    quantity = load_quantities()[point.quantity]
    own = from_canonical(point, quantity, value)
    step = canonical_step(point, quantity, resolution(point, own))
    return step / 2 + 1e-9 * max(1.0, abs(value))
