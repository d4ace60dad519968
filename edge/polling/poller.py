"""One poller per bus: it owns the bus's Modbus master and polls its devices in turn.

Layer: asyncio task. It hands readings to a sink (the outbox) once per poll
cycle and never talks to an uplink. The bus type only decides how the master
is built (:mod:`edge.polling.buses`); the polling logic is the same for Modbus
TCP, Modbus RTU on a serial port and RTU over TCP. Device reading and decoding
live in :mod:`edge.polling.device_read`; timing in :mod:`edge.polling.schedule`.

Failure handling follows Home Assistant's ``DataUpdateCoordinator``: a device
that fails (timeout, CRC error, Modbus exception, undecodable registers) is
marked degraded with one log line when failing starts and one on recovery, and
the bus keeps polling its other devices. A device that keeps failing is tried
less and less often (exponential back-off up to ``backoff_max_s``), so a dead
sensor costs the bus one timeout per back-off period, not one per poll. Every
failure is counted per device by kind, with the late replies the master saw.
A broken link is reopened at the next poll cycle, one attempt per cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from typing import Literal

from device_profiles import Profile
from edge.bus_config import DeviceConfig
from edge.errors import DeviceReadError, EdgeError, LinkError
from edge.polling.buses import AnyModbusBus, master_for
from edge.polling.device_read import read_points, to_readings
from edge.polling.modbus_master import ModbusMaster
from edge.polling.schedule import Schedule, backoff_s
from wire import Reading

log = logging.getLogger(__name__)

DeviceState = Literal["unknown", "ok", "degraded"]
ReadingSink = Callable[[list[Reading]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What the agent knows about one device.

    ``errors`` counts failures by kind (``timeout``, ``crc``, ``garbage``,
    ``exception``, ``link``, ``decode``, and ``late`` replies); ``polls`` the
    attempts, ``missed_slots`` the schedule slots skipped because the bus was busy.
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


@dataclass(slots=True)
class _Retry:
    failures: int = 0
    not_before_s: float = 0.0


class BusPoller:
    """Polls the devices of one bus (any Modbus bus type) on their schedules."""

    def __init__(
        self,
        bus: AnyModbusBus,
        sink: ReadingSink,
        *,
        profiles: Mapping[str, Profile] | None = None,
        on_change: Callable[[], None] | None = None,
        wall_clock_s: Callable[[], float] = time.time,
        master: ModbusMaster | None = None,
    ) -> None:
        """Create the poller; nothing opens until :meth:`run` or :meth:`poll`.

        Args:
            bus: the bus section of gateway.yaml.
            sink: receives the readings of one poll cycle (one outbox transaction).
            profiles: device id -> profile; defaults to each device's built-in model.
            on_change: called after every poll cycle (health may have changed).
            wall_clock_s: UTC clock for reading timestamps (epoch seconds).
            master: the bus's Modbus master (default: built from ``bus``).
        """
        self.bus = bus
        self._sink = sink
        self._devices = {d.id: d for d in bus.devices}
        self._profiles = {d.id: d.profile for d in bus.devices} | dict(profiles or {})
        self._on_change = on_change or (lambda: None)
        self._wall_clock_s = wall_clock_s
        self._health = {d.id: DeviceHealth(d.id, bus.name, d.slave) for d in bus.devices}
        self._errors: dict[str, Counter[str]] = {d.id: Counter() for d in bus.devices}
        self._retry = {d.id: _Retry() for d in bus.devices}
        self.master = master or master_for(bus)
        self._link_up: bool | None = None
        self._sink_ok = True

    @property
    def name(self) -> str:
        """The bus name."""
        return self.bus.name

    def health(self) -> list[DeviceHealth]:
        """Health of every device of this bus, in configuration order."""
        late = self.master.late_replies
        result = []
        for device_id, health in self._health.items():
            counts = self._errors[device_id].copy()
            if late[health.slave]:
                counts["late"] = late[health.slave]
            result.append(replace(health, errors=dict(counts)))
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; the cycle in progress finishes first."""
        schedule = Schedule({d.id: d.interval_s for d in self.bus.devices}, time.monotonic())
        try:
            while not stop.is_set():
                now_s = time.monotonic()
                due = schedule.due(now_s)
                if due:
                    # a device in back-off lets its slot pass without a request
                    ready = [d for d in due if self._retry[d].not_before_s <= now_s]
                    readings = await self.poll(ready) if ready else []
                    for device_id in due:
                        schedule.polled(device_id, time.monotonic())
                        missed = schedule.missed(device_id)
                        health = self._health[device_id]
                        self._health[device_id] = replace(health, missed_slots=missed)
                    await self._deliver(readings)
                    self._on_change()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), schedule.wait_s(time.monotonic()))
        finally:
            self.close()

    async def poll(self, device_ids: Sequence[str] | None = None) -> list[Reading]:
        """Poll ``device_ids`` (default: all) once, now, and return their readings.

        Back-off is the schedule's business (:meth:`run`): asked directly, every
        device is polled.
        """
        ids = list(self._devices) if device_ids is None else list(device_ids)
        link_error = await self._open_link()
        readings: list[Reading] = []
        for device_id in ids:
            device = self._devices[device_id]
            if link_error is not None:
                self._failed(device, link_error, "link")
                continue
            readings.extend(await self._poll_device(device))
        return readings

    def close(self) -> None:
        """Close the bus link (a later poll reopens it)."""
        self.master.close()

    async def _poll_device(self, device: DeviceConfig) -> list[Reading]:
        profile = self._profiles[device.id]
        time_ms = int(self._wall_clock_s() * 1000)
        health = self._health[device.id]
        self._health[device.id] = replace(health, polls=health.polls + 1)
        try:
            values = await read_points(
                self.master,
                profile,
                device.slave,
                device.id,
                timeout_s=self.bus.timeout_s,
                retries=self.bus.retries,
            )
        except DeviceReadError as exc:
            self._failed(device, str(exc), exc.kind)
            return []
        conversion = to_readings(
            device.id, profile, values, time_ms, calibration=device.calibration
        )
        if conversion.problems:
            self._failed(device, "; ".join(conversion.problems), "decode")
        else:
            self._succeeded(device, time_ms)
        health = self._health[device.id]
        produced = health.readings + len(conversion.readings)
        self._health[device.id] = replace(health, readings=produced)
        return list(conversion.readings)

    async def _open_link(self) -> str | None:
        """Open the link if it is down; return why it could not be opened, else None."""
        try:
            await self.master.link.open()
        except LinkError as exc:
            if self._link_up is not False:
                log.warning("bus %s: %s", self.bus.name, exc)
            self._link_up = False
            return str(exc)
        if self._link_up is False:
            log.info("bus %s: link to %s is up again", self.bus.name, self.master.description)
        self._link_up = True
        return None

    def _failed(self, device: DeviceConfig, reason: str, kind: str) -> None:
        health = self._health[device.id]
        self._errors[device.id][kind] += 1
        if kind != "decode":  # the device answered: decoding problems need no back-off
            retry = self._retry[device.id]
            retry.failures += 1
            delay_s = backoff_s(retry.failures, device.interval_s, self.bus.backoff_max_s)
            retry.not_before_s = time.monotonic() + delay_s
        if health.state != "degraded":
            log.warning(
                "device %s (bus %s, slave %d) degraded: %s",
                device.id,
                self.bus.name,
                device.slave,
                reason,
            )
        self._health[device.id] = replace(health, state="degraded", error=reason)

    def _succeeded(self, device: DeviceConfig, time_ms: int) -> None:
        health = self._health[device.id]
        self._retry[device.id] = _Retry()
        if health.state == "degraded":
            log.info(
                "device %s (bus %s, slave %d) recovered", device.id, self.bus.name, device.slave
            )
        self._health[device.id] = replace(health, state="ok", error=None, last_ok_ms=time_ms)

    async def _deliver(self, readings: list[Reading]) -> None:
        if not readings:
            return
        try:
            await self._sink(readings)
        except EdgeError as exc:
            if self._sink_ok:
                log.error("bus %s: readings could not be stored: %s", self.bus.name, exc)
            self._sink_ok = False
            return
        if not self._sink_ok:
            log.info("bus %s: readings are stored again", self.bus.name)
        self._sink_ok = True


# The name under which the agent and its tests knew the TCP-only poller.
ModbusTcpPoller = BusPoller
