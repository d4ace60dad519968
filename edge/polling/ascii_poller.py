"""One poller per ASCII bus: a serial sensor that speaks a line protocol.

Layer: asyncio task over a :class:`~edge.polling.transports.SerialLink`. The
line grammar is the profile's (``device_profiles.ascii``: framing, checksum,
fields); decoding into readings is the same :func:`to_readings` the Modbus
pollers use, so units, calibration and the plausibility rule are shared.

A sensor that streams lines (no ``request`` in its profile) is read at each
due time from what it sent since the last one: the newest complete line
counts, older ones are dropped. A sensor that answers requests is asked at
each due time. No line within ``timeout_s`` is a ``timeout``; bytes that frame
or parse to nothing usable (a wrong checksum, a line of another shape) are
``garbage``; both degrade the device and back it off, as on a Modbus bus.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from contextlib import suppress

from device_profiles import AsciiSpec, Profile
from device_profiles.ascii import AsciiError, parse_line
from edge.bus_config import AsciiBus
from edge.errors import LinkError
from edge.polling.ascii_lines import LineReader, NoLineError
from edge.polling.device_read import to_readings
from edge.polling.health import DeviceHealth, HealthBook, ReadingSink, SinkGuard, Tracked
from edge.polling.schedule import Schedule
from edge.polling.transports import SerialLink
from wire import Reading


class AsciiPoller:
    """Reads the one sensor of an ``ascii`` bus on its schedule."""

    def __init__(
        self,
        bus: AsciiBus,
        sink: ReadingSink,
        *,
        profiles: Mapping[str, Profile] | None = None,
        on_change: Callable[[], None] | None = None,
        wall_clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Create the poller; the port opens on the first poll.

        Raises:
            ValueError: the device's profile has no ASCII grammar.
        """
        self.bus = bus
        self.device = bus.devices[0]
        self.profile = (profiles or {}).get(self.device.id) or self.device.profile
        if self.profile.ascii is None:
            raise ValueError(f"{self.profile.model} has no ASCII line grammar")
        self.spec: AsciiSpec = self.profile.ascii
        self._sink = SinkGuard(bus.name, sink)
        self._on_change = on_change or (lambda: None)
        self._wall_clock_s = wall_clock_s
        tracked = Tracked(self.device.id, 0, self.device.interval_s)
        self._book = HealthBook(bus.name, [tracked], bus.backoff_max_s)
        self.link = SerialLink(bus.port, bus.baudrate, bus.parity, bus.stopbits, bus.bytesize)
        self._lines = LineReader(self.link, self.spec)

    @property
    def name(self) -> str:
        """The bus name."""
        return self.bus.name

    def health(self) -> list[DeviceHealth]:
        """Health of the bus's one device."""
        return self._book.health()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set."""
        device_id = self.device.id
        schedule = Schedule({device_id: self.device.interval_s}, time.monotonic())
        try:
            while not stop.is_set():
                now_s = time.monotonic()
                if schedule.due(now_s):
                    ready = self._book.ready([device_id], now_s)
                    readings = await self.poll() if ready else []
                    schedule.polled(device_id, time.monotonic())
                    self._book.missed_slots(device_id, schedule.missed(device_id))
                    await self._sink.deliver(readings)
                    self._on_change()
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), schedule.wait_s(time.monotonic()))
        finally:
            self.close()

    async def poll(self) -> list[Reading]:
        """Take one line from the sensor now (asking for it if it must be asked)."""
        device_id = self.device.id
        self._book.polling(device_id)
        try:
            await self.link.open()
            line = await self._lines.next_line(self.bus.timeout_s)
            values = parse_line(self.spec, line)
        except LinkError as exc:
            self._book.failed(device_id, str(exc), "link")
            return []
        except NoLineError as exc:
            self._book.failed(device_id, str(exc), "timeout")
            return []
        except AsciiError as exc:
            self._book.failed(device_id, f"unusable line: {exc}", "garbage")
            return []
        time_ms = int(self._wall_clock_s() * 1000)
        conversion = to_readings(
            device_id, self.profile, values, time_ms, calibration=self.device.calibration
        )
        if conversion.problems:
            self._book.failed(device_id, "; ".join(conversion.problems), "decode")
        else:
            self._book.succeeded(device_id, time_ms)
        self._book.produced(device_id, len(conversion.readings))
        return list(conversion.readings)

    def close(self) -> None:
        """Close the port (a later poll reopens it)."""
        self.link.close()
        self._lines.reset()
