"""What a poller knows about its devices: state, error counts, back-off; and its sink.

Layer: bookkeeping for the pollers (any bus type); no I/O except log lines.
Failure handling follows Home Assistant's ``DataUpdateCoordinator``: one log
line when a device starts failing and one when it recovers, not one per poll.
A device that keeps failing to answer is tried less and less often
(:func:`~edge.polling.schedule.backoff_s`); one that answers with values it
cannot vouch for (decoding problems) is not backed off.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from edge.errors import EdgeError
from edge.polling.schedule import backoff_s
from wire import Reading

log = logging.getLogger("edge.polling.poller")

DeviceState = Literal["unknown", "ok", "degraded"]
ReadingSink = Callable[[list[Reading]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What the agent knows about one device.

    ``errors`` counts failures by kind (``timeout``, ``crc``, ``garbage``,
    ``exception``, ``link``, ``decode``, and ``late`` replies); ``polls`` the
    attempts, ``missed_slots`` the schedule slots skipped because the bus was busy.
    ``slave`` is 0 for a sensor without a Modbus address (an ASCII bus).
    """

    device_id: str
    bus: str
    slave: int
    state: DeviceState = "unknown"
    error: str | None = None
    last_ok_ms: int | None = None
    readings: int = 0
    polls: int = 0
    missed_slots: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tracked:
    """A device as the book needs it: id, Modbus address (0: none), interval."""

    device_id: str
    slave: int
    interval_s: float


@dataclass(slots=True)
class _Retry:
    failures: int = 0
    not_before_s: float = 0.0


class HealthBook:
    """Health, error counters and back-off of the devices of one bus."""

    def __init__(
        self,
        bus: str,
        devices: Sequence[Tracked],
        backoff_max_s: float,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """Every device starts ``unknown``, with no errors and no back-off."""
        self.bus = bus
        self._devices = {d.device_id: d for d in devices}
        self._health = {d.device_id: DeviceHealth(d.device_id, bus, d.slave) for d in devices}
        self._errors: dict[str, Counter[str]] = {d.device_id: Counter() for d in devices}
        self._retry = {d.device_id: _Retry() for d in devices}
        self._backoff_max_s = backoff_max_s
        self._clock_s = clock_s

    def health(self, late_by_slave: Mapping[int, int] | None = None) -> list[DeviceHealth]:
        """Every device's health, in configuration order, with late replies per slave."""
        result = []
        for device_id, health in self._health.items():
            counts = self._errors[device_id].copy()
            late = (late_by_slave or {}).get(health.slave, 0) if health.slave else 0
            if late:
                counts["late"] = late
            result.append(replace(health, errors=dict(counts)))
        return result

    def ready(self, device_ids: Sequence[str], now_s: float) -> list[str]:
        """Those of ``device_ids`` not in back-off at ``now_s``."""
        return [d for d in device_ids if self._retry[d].not_before_s <= now_s]

    def polling(self, device_id: str) -> None:
        """Count one attempt."""
        health = self._health[device_id]
        self._health[device_id] = replace(health, polls=health.polls + 1)

    def missed_slots(self, device_id: str, missed: int) -> None:
        """Record the schedule's count of slots the device lost."""
        self._health[device_id] = replace(self._health[device_id], missed_slots=missed)

    def produced(self, device_id: str, readings: int) -> None:
        """Count readings made from the device."""
        health = self._health[device_id]
        self._health[device_id] = replace(health, readings=health.readings + readings)

    def failed(self, device_id: str, reason: str, kind: str) -> None:
        """The device failed (``kind`` for the counters); log once when failing starts."""
        device = self._devices[device_id]
        health = self._health[device_id]
        self._errors[device_id][kind] += 1
        if kind != "decode":  # the device answered: decoding problems need no back-off
            retry = self._retry[device_id]
            retry.failures += 1
            delay_s = backoff_s(retry.failures, device.interval_s, self._backoff_max_s)
            retry.not_before_s = self._clock_s() + delay_s
        if health.state != "degraded":
            log.warning("device %s (%s) degraded: %s", device_id, self._where(device), reason)
        self._health[device_id] = replace(health, state="degraded", error=reason)

    def succeeded(self, device_id: str, time_ms: int) -> None:
        """The device answered well: end its back-off; log once on recovery."""
        health = self._health[device_id]
        self._retry[device_id] = _Retry()
        if health.state == "degraded":
            log.info("device %s (%s) recovered", device_id, self._where(self._devices[device_id]))
        self._health[device_id] = replace(health, state="ok", error=None, last_ok_ms=time_ms)

    def _where(self, device: Tracked) -> str:
        if device.slave:
            return f"bus {self.bus}, slave {device.slave}"
        return f"bus {self.bus}"


class SinkGuard:
    """Hands readings to the sink; one log line when storing starts failing, one when it works."""

    def __init__(self, bus: str, sink: ReadingSink) -> None:
        """Wrap ``sink`` for bus ``bus``."""
        self._bus = bus
        self._sink = sink
        self._ok = True

    async def deliver(self, readings: list[Reading]) -> None:
        """Store ``readings`` (nothing if empty); an :class:`EdgeError` is logged, not raised."""
        if not readings:
            return
        try:
            await self._sink(readings)
        except EdgeError as exc:
            if self._ok:
                log.error("bus %s: readings could not be stored: %s", self._bus, exc)
            self._ok = False
            return
        if not self._ok:
            log.info("bus %s: readings are stored again", self._bus)
        self._ok = True
