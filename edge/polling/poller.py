"""One poller per bus: it owns the bus's Modbus master and polls its devices in turn.

Layer: asyncio task. It hands readings to a sink (the outbox) once per poll
cycle and never talks to an uplink. The bus type only decides how the master
is built (:mod:`edge.polling.buses`); the polling logic is the same for Modbus
TCP, Modbus RTU on a serial port and RTU over TCP. Device reading and decoding
live in :mod:`edge.polling.device_read`; timing in :mod:`edge.polling.schedule`.

A device that fails (timeout, CRC error, Modbus exception, undecodable
registers) is marked degraded (:class:`~edge.polling.health.HealthBook`: one
log line when failing starts, one on recovery) while the bus keeps polling its
other devices. A device that keeps failing is tried less and less often
(exponential back-off up to ``backoff_max_s``), so a dead sensor costs the bus
one timeout per back-off period, not one per poll. Every failure is counted per
device by kind, with the late replies the master saw. A broken link is reopened
at the next poll cycle, one attempt per cycle.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress

from device_profiles import Profile
from edge.bus_config import DeviceConfig
from edge.errors import DeviceReadError, LinkError
from edge.polling.buses import AnyModbusBus, master_for
from edge.polling.device_read import read_points, to_readings
from edge.polling.health import DeviceHealth, HealthBook, ReadingSink, SinkGuard, Tracked
from edge.polling.modbus_master import ModbusMaster
from edge.polling.schedule import Schedule
from wire import Reading

__all__ = ["BusPoller", "DeviceHealth", "ModbusTcpPoller", "ReadingSink"]

log = logging.getLogger(__name__)


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
        self._sink = SinkGuard(bus.name, sink)
        self._devices = {d.id: d for d in bus.devices}
        self._profiles = {d.id: d.profile for d in bus.devices} | dict(profiles or {})
        self._on_change = on_change or (lambda: None)
        self._wall_clock_s = wall_clock_s
        tracked = [Tracked(d.id, d.slave, d.interval_s) for d in bus.devices]
        self._book = HealthBook(bus.name, tracked, bus.backoff_max_s)
        self.master = master or master_for(bus)
        self._link_up: bool | None = None

    @property
    def name(self) -> str:
        """The bus name."""
        return self.bus.name

    def health(self) -> list[DeviceHealth]:
        """Health of every device of this bus, in configuration order."""
        return self._book.health(self.master.late_replies)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set; the cycle in progress finishes first."""
        schedule = Schedule({d.id: d.interval_s for d in self.bus.devices}, time.monotonic())
        try:
            while not stop.is_set():
                now_s = time.monotonic()
                due = schedule.due(now_s)
                if due:
                    # a device in back-off lets its slot pass without a request
                    ready = self._book.ready(due, now_s)
                    readings = await self.poll(ready) if ready else []
                    for device_id in due:
                        schedule.polled(device_id, time.monotonic())
                        self._book.missed_slots(device_id, schedule.missed(device_id))
                    await self._sink.deliver(readings)
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
                self._book.failed(device_id, link_error, "link")
                continue
            readings.extend(await self._poll_device(device))
        return readings

    def close(self) -> None:
        """Close the bus link (a later poll reopens it)."""
        self.master.close()

    async def _poll_device(self, device: DeviceConfig) -> list[Reading]:
        profile = self._profiles[device.id]
        time_ms = int(self._wall_clock_s() * 1000)
        self._book.polling(device.id)
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
            self._book.failed(device.id, str(exc), exc.kind)
            return []
        conversion = to_readings(
            device.id, profile, values, time_ms, calibration=device.calibration
        )
        if conversion.problems:
            self._book.failed(device.id, "; ".join(conversion.problems), "decode")
        else:
            self._book.succeeded(device.id, time_ms)
        self._book.produced(device.id, len(conversion.readings))
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


# The name under which the agent and its tests knew the TCP-only poller.
ModbusTcpPoller = BusPoller
