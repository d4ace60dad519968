"""One poller per Modbus TCP bus: it owns the connection and polls its devices in turn.

Layer: asyncio task around pymodbus. It hands readings to a sink (the outbox)
once per poll cycle and never talks to an uplink. Device reading and decoding
live in :mod:`edge.polling.device_read`; timing in :mod:`edge.polling.schedule`.

Failure handling follows Home Assistant's ``DataUpdateCoordinator``: a device
that fails (timeout, Modbus exception, undecodable registers) is marked
degraded with one log line when failing starts and one on recovery, and the bus
keeps polling its other devices. A dropped TCP link is reopened at the next
poll cycle; one connect attempt per cycle, so an unreachable endpoint costs one
``timeout_s`` per cycle, not one per device.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from typing import Literal

from pymodbus.client import AsyncModbusTcpClient

from device_profiles import Profile
from edge.config import DeviceConfig, ModbusTcpBus
from edge.errors import DeviceReadError, EdgeError
from edge.polling.device_read import read_points, to_readings
from edge.polling.schedule import Schedule
from wire import Reading

log = logging.getLogger(__name__)

DeviceState = Literal["unknown", "ok", "degraded"]
ReadingSink = Callable[[list[Reading]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class DeviceHealth:
    """What the agent knows about one device."""

    device_id: str
    bus: str
    slave: int
    state: DeviceState = "unknown"
    error: str | None = None
    last_ok_ms: int | None = None
    readings: int = 0


class ModbusTcpPoller:
    """Polls the devices of one ``modbus_tcp`` bus on their schedules."""

    def __init__(
        self,
        bus: ModbusTcpBus,
        sink: ReadingSink,
        *,
        profiles: Mapping[str, Profile] | None = None,
        on_change: Callable[[], None] | None = None,
        wall_clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Create the poller; nothing connects until :meth:`run` or :meth:`poll`.

        Args:
            bus: the bus section of gateway.yaml.
            sink: receives the readings of one poll cycle (one outbox transaction).
            profiles: device id -> profile; defaults to each device's built-in model.
            on_change: called after every poll cycle (health may have changed).
            wall_clock_s: UTC clock for reading timestamps (epoch seconds).
        """
        self.bus = bus
        self._sink = sink
        self._devices = {d.id: d for d in bus.devices}
        self._profiles = {d.id: d.profile for d in bus.devices} | dict(profiles or {})
        self._on_change = on_change or (lambda: None)
        self._wall_clock_s = wall_clock_s
        self._health = {d.id: DeviceHealth(d.id, bus.name, d.slave) for d in bus.devices}
        self._client: AsyncModbusTcpClient | None = None
        self._link_up: bool | None = None
        self._sink_ok = True

    @property
    def name(self) -> str:
        """The bus name."""
        return self.bus.name

    def health(self) -> list[DeviceHealth]:
        """Health of every device of this bus, in configuration order."""
        return list(self._health.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; the cycle in progress finishes first."""
        schedule = Schedule({d.id: d.interval_s for d in self.bus.devices}, time.monotonic())
        try:
            while not stop.is_set():
                due = schedule.due(time.monotonic())
                if due:
                    readings = await self.poll(due)
                    for device_id in due:
                        schedule.polled(device_id, time.monotonic())
                    await self._deliver(readings)
                    self._on_change()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), schedule.wait_s(time.monotonic()))
        finally:
            self.close()

    async def poll(self, device_ids: Sequence[str] | None = None) -> list[Reading]:
        """Poll ``device_ids`` (default: all) once, now, and return their readings."""
        ids = list(self._devices) if device_ids is None else list(device_ids)
        link_error = await self._connect()
        readings: list[Reading] = []
        for device_id in ids:
            device = self._devices[device_id]
            if link_error is not None:
                self._failed(device, link_error)
                continue
            readings.extend(await self._poll_device(device))
        return readings

    def close(self) -> None:
        """Close the Modbus connection (a later poll reopens it)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _poll_device(self, device: DeviceConfig) -> list[Reading]:
        profile = self._profiles[device.id]
        time_ms = int(self._wall_clock_s() * 1000)
        assert self._client is not None  # noqa: S101 - _connect() succeeded
        try:
            values = await read_points(self._client, profile, device.slave, device.id)
        except DeviceReadError as exc:
            self._failed(device, str(exc))
            return []
        conversion = to_readings(
            device.id, profile, values, time_ms, calibration=device.calibration
        )
        if conversion.problems:
            self._failed(device, "; ".join(conversion.problems))
        else:
            self._succeeded(device, time_ms)
        health = self._health[device.id]
        produced = health.readings + len(conversion.readings)
        self._health[device.id] = replace(health, readings=produced)
        return list(conversion.readings)

    async def _connect(self) -> str | None:
        """Open the link if it is down; return why it could not be opened, else None."""
        if self._client is None:
            self._client = AsyncModbusTcpClient(
                self.bus.host,
                port=self.bus.port,
                timeout=self.bus.timeout_s,
                # the next scheduled poll is the retry: a retry here would only delay
                # the other devices of the bus behind a silent one
                retries=0,
                reconnect_delay=0,  # reconnects are ours, one attempt per poll cycle
                name=f"bus {self.bus.name}",
            )
        if self._client.connected:
            return None
        address = f"{self.bus.host}:{self.bus.port}"
        if await self._client.connect():
            if self._link_up is False:
                log.info("bus %s: link to %s is up again", self.bus.name, address)
            self._link_up = True
            return None
        if self._link_up is not False:
            log.warning("bus %s: cannot connect to %s", self.bus.name, address)
        self._link_up = False
        return f"cannot connect to {address}"

    def _failed(self, device: DeviceConfig, reason: str) -> None:
        health = self._health[device.id]
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
