"""A simulated serial ASCII sensor on a pseudo-terminal, speaking its profile's line grammar.

Layer: asyncio around a pty pair; lines are written with
``device_profiles.ascii.format_line``, the grammar the edge parses with. A
sensor whose profile has no ``request`` streams a line every ``interval_s``;
one with a request answers each request. A line leaves after its wire time
(``bytes x bits / baud``), as on a real line.

Values are canonical on the way in (generator, :meth:`AsciiSensor.set_value`)
and out (:meth:`AsciiSensor.served`), and written in each field's unit.
Faults: silent, garbage instead of lines, a wrong checksum, a sentinel text.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from types import TracebackType

from device_profiles import AsciiSpec, Profile, load_quantities
from device_profiles.ascii import ENCODING, format_line, parse_line
from device_profiles.measure import to_canonical
from simulators.errors import SimulatorError
from simulators.modbus_rtu import line_char_s
from simulators.pty_pair import PtyPair
from simulators.register_image import as_served
from simulators.signals import physical_value


@dataclass
class AsciiFaults:
    """What is wrong with the simulated sensor right now."""

    silent: bool = False
    garbage: bool = False
    bad_checksum: bool = False


class AsciiSensor:
    """One ASCII sensor behind a pty (the agent opens :attr:`port`)."""

    def __init__(
        self,
        profile: Profile,
        *,
        interval_s: float | None = None,
        seed: int = 0,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Open the pty; nothing is sent until :meth:`start`.

        Args:
            profile: an ASCII profile.
            interval_s: seconds between streamed lines (default: the profile's).
            seed: noise seed of the values.
            clock_s: UTC epoch seconds for the values' daily cycle.
        """
        if profile.ascii is None:
            raise SimulatorError(f"{profile.model} has no ASCII line grammar")
        self.profile = profile
        self.spec: AsciiSpec = profile.ascii
        self.interval_s = interval_s or self.spec.interval_s
        self.faults = AsciiFaults()
        self._seed, self._clock_s = seed, clock_s
        self._pinned: dict[str, float | None] = {}
        self._pty = PtyPair()
        self._master_fd = self._pty.master_fd
        self.port = self._pty.port
        self.lines_sent = 0
        self._received = b""
        self._task: asyncio.Task[None] | None = None

    def set_value(self, field: str, value: float | None) -> None:
        """Pin ``field`` to ``value`` (canonical unit); ``None`` writes an empty field."""
        self.profile.measurement(field)
        self._pinned[field] = value

    def values(self) -> dict[str, float | None]:
        """What the next line carries, in each field's unit."""
        quantities = load_quantities()
        now_s = self._clock_s()
        result: dict[str, float | None] = {}
        for field in self.spec.fields:
            quantity = quantities[field.quantity]
            if field.name in self._pinned:
                pinned = self._pinned[field.name]
                result[field.name] = None if pinned is None else as_served(field, quantity, pinned)
                continue
            value = physical_value(quantity, now_s, seed=self._seed, key=field.name)
            result[field.name] = as_served(field, quantity, value)
        return result

    def line(self) -> bytes:
        """The next line, faults applied."""
        data = format_line(self.spec, self.values())
        if self.faults.garbage:
            return bytes((b * 7 + 3) & 0x7F for b in data[:-2]) + data[-2:]
        if self.faults.bad_checksum and self.spec.checksum is not None:
            end = len(data) - len(self.spec.terminator)
            return data[: end - 1] + (b"0" if data[end - 1 : end] != b"0" else b"1") + data[end:]
        return data

    def served(self) -> dict[str, float]:
        """Field name -> value as a parser reads it now (canonical unit)."""
        text = format_line(self.spec, self.values()).decode(ENCODING)
        parsed = parse_line(self.spec, text.removesuffix(self.spec.terminator))
        quantities = load_quantities()
        return {
            name: to_canonical(
                self.profile.measurement(name),
                quantities[self.profile.measurement(name).quantity],
                v,
            )
            for name, v in parsed.items()
            if isinstance(v, float)
        }

    async def start(self) -> None:
        """Stream lines, or answer requests."""
        if self.spec.request is None:
            self._task = asyncio.create_task(self._stream())
        else:
            asyncio.get_running_loop().add_reader(self._master_fd, self._readable)

    async def stop(self) -> None:
        """Stop and close the pty."""
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        self._pty.close()

    async def __aenter__(self) -> AsciiSensor:
        """Start."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    async def _stream(self) -> None:
        while True:
            self._send(self.line())
            await asyncio.sleep(self.interval_s)  # the sensor's own output period

    def _readable(self) -> None:
        try:
            self._received += os.read(self._master_fd, 4096)
        except OSError:
            return
        assert self.spec.request is not None  # noqa: S101 - only request sensors listen
        request = self.spec.request.encode(ENCODING)
        while request in self._received:
            self._received = self._received.split(request, 1)[1]
            line = self.line()
            wire_s = len(line) * line_char_s(self.spec.serial.baudrate, self.spec.serial.parity)
            asyncio.get_running_loop().call_later(wire_s, self._send, line)

    def _send(self, line: bytes) -> None:
        if self.faults.silent:
            return
        with suppress(OSError):
            os.write(self._master_fd, line)
            self.lines_sent += 1
