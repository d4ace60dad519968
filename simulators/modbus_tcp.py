"""A simulated Modbus TCP station: one or more slaves built from device profiles.

Layer: asyncio server on top of pymodbus's ``ModbusTcpServer`` and ``SimDevice``.
Registers are never a table of their own: each point of the slave's
``Profile`` is encoded with ``device_profiles.encode_point``, the same codec
the edge poller decodes with. Values come from a :data:`signals.ValueGenerator`
and change every ``update_interval_s``; tests pin values with
:meth:`SimulatedStation.set_value` and read back exactly what is served with
:meth:`SimulatedStation.served`.

Faults: :meth:`SimulatedStation.set_offline` makes a slave silent (the request
gets no answer at all, so the client times out, as with a dead RS-485 sensor
behind a TCP gateway); :meth:`SimulatedStation.set_raw` serves arbitrary
registers (e.g. a probe-missing value). Unknown slave ids are silent too.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from device_profiles import (
    InvalidRawError,
    Point,
    Profile,
    RegisterError,
    builtin_profile,
    decode_point,
    encode_point,
    load_quantities,
)
from simulators.errors import SimulatorError
from simulators.signals import ValueGenerator, diurnal

_READ_FUNCTION = {"holding": 3, "input": 4}
_ALL_REGISTERS = 0x10000


@dataclass
class _Slave:
    profile: Profile
    image: dict[int, int] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)
    offline: bool = False


class SimulatedStation:
    """A Modbus TCP server on loopback whose slaves serve device profiles."""

    def __init__(
        self,
        slaves: Mapping[int, Profile],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        update_interval_s: float | None = 1.0,
        generator: ValueGenerator | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Build the register images; nothing listens until :meth:`start`.

        Args:
            slaves: slave id (1..247) -> the profile it serves.
            host: address to bind.
            port: TCP port; 0 picks a free one (see :attr:`port` after start).
            update_interval_s: how often unpinned values follow the generator;
                ``None`` keeps the values of start time.
            generator: the value source (default: :func:`signals.diurnal` with seed 0).
            clock_s: UTC epoch seconds handed to the generator.
        """
        for slave in slaves:
            if not 1 <= slave <= 247:
                raise SimulatorError(f"slave id {slave} outside 1..247")
        self.host = host
        self._port = port
        self._update_interval_s = update_interval_s
        self._generator = generator or diurnal()
        self._clock_s = clock_s
        self._slaves = {slave: _Slave(profile) for slave, profile in slaves.items()}
        self._lock = threading.Lock()
        self._server: ModbusTcpServer | None = None
        self._updater: asyncio.Task[None] | None = None
        self._stop_request: Callable[[], None] | None = None
        self.update()

    @classmethod
    def for_model(
        cls,
        model: str,
        slaves: Iterable[int],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        update_interval_s: float | None = 1.0,
        generator: ValueGenerator | None = None,
    ) -> SimulatedStation:
        """A station whose slaves all serve the built-in profile ``model``.

        Raises:
            ProfileError: there is no such built-in model.
        """
        profile = builtin_profile(model)
        return cls(
            dict.fromkeys(slaves, profile),
            host=host,
            port=port,
            update_interval_s=update_interval_s,
            generator=generator,
        )

    @property
    def port(self) -> int:
        """The TCP port (the one picked by the OS when created with port 0)."""
        return self._port

    @property
    def slave_ids(self) -> list[int]:
        """The slave ids this station answers for."""
        return list(self._slaves)

    async def start(self) -> None:
        """Listen, and start following the generator.

        Raises:
            SimulatorError: the address cannot be bound.
        """
        devices = [self._device(slave) for slave in self._slaves]
        devices.append(_silent_catch_all())
        server = ModbusTcpServer(
            devices, address=(self.host, self._port), ignore_missing_devices=True
        )
        try:
            await server.serve_forever(background=True)
        except RuntimeError as exc:
            raise SimulatorError(f"cannot listen on {self.host}:{self._port}") from exc
        self._server = server
        listener = cast(asyncio.Server, server.transport)
        self._port = int(listener.sockets[0].getsockname()[1])
        if self._update_interval_s is not None:
            self._updater = asyncio.create_task(self._follow(self._update_interval_s))

    async def stop(self) -> None:
        """Stop following the generator, close every connection and the listener."""
        if self._updater is not None:
            self._updater.cancel()
            with suppress(asyncio.CancelledError):
                await self._updater
            self._updater = None
        if self._server is not None:
            listener = cast(asyncio.Server | None, self._server.transport)
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            if listener is not None:
                await listener.wait_closed()
            self._server = None

    async def __aenter__(self) -> SimulatedStation:
        """Start the station."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the station."""
        await self.stop()

    def run_forever(self, on_listening: Callable[[SimulatedStation], None] | None = None) -> None:
        """Serve until SIGINT/SIGTERM (main thread) or :meth:`request_stop` (any thread)."""
        asyncio.run(self._serve_until_stopped(on_listening))

    def request_stop(self) -> None:
        """Ask :meth:`run_forever` to return; safe from any thread."""
        if self._stop_request is not None:
            self._stop_request()

    def update(self, time_s: float | None = None) -> None:
        """Set every unpinned point to the generator's value at ``time_s`` (default: now)."""
        now_s = self._clock_s() if time_s is None else time_s
        quantities = load_quantities()
        with self._lock:
            for slave_id, slave in self._slaves.items():
                for point in slave.profile.points:
                    if point.name in slave.pinned:
                        continue
                    value = self._generator(slave_id, point, quantities[point.quantity], now_s)
                    with suppress(RegisterError):  # a value the type cannot hold: keep the last
                        _store(slave, point, encode_point(point, value))

    def set_value(self, slave: int, point_name: str, value: float) -> float:
        """Pin ``point_name`` of ``slave`` to ``value``; return the value a poller will decode.

        Raises:
            KeyError: no such slave or point.
            RegisterError: the value does not fit the point's data type.
        """
        point = self._point(slave, point_name)
        registers = encode_point(point, value)
        with self._lock:
            _store(self._slaves[slave], point, registers)
            self._slaves[slave].pinned.add(point_name)
        return decode_point(point, registers)

    def set_raw(self, slave: int, point_name: str, registers: Sequence[int]) -> None:
        """Pin ``point_name`` to raw ``registers`` (e.g. a sensor's probe-missing value)."""
        point = self._point(slave, point_name)
        if len(registers) != point.register_count:
            raise SimulatorError(f"{point_name} needs {point.register_count} registers")
        with self._lock:
            _store(self._slaves[slave], point, tuple(registers))
            self._slaves[slave].pinned.add(point_name)

    def unpin(self, slave: int, point_name: str) -> None:
        """Let ``point_name`` follow the generator again (from the next update)."""
        self._point(slave, point_name)
        with self._lock:
            self._slaves[slave].pinned.discard(point_name)

    def served(self, slave: int) -> dict[str, float]:
        """Point name -> value exactly as a poller decodes it now (quantisation included).

        Points whose registers hold a probe-missing raw value are left out.
        """
        values: dict[str, float] = {}
        with self._lock:
            state = self._slaves[slave]
            for point in state.profile.points:
                registers = [state.image[a] for a in range(point.address, point.end)]
                with suppress(InvalidRawError):
                    values[point.name] = decode_point(point, registers)
        return values

    def set_offline(self, slave: int, offline: bool) -> None:
        """Make ``slave`` stop answering (``True``) or answer again (``False``)."""
        with self._lock:
            self._slaves[slave].offline = offline

    def _point(self, slave: int, point_name: str) -> Point:
        if slave not in self._slaves:
            raise KeyError(f"no slave {slave}")
        return self._slaves[slave].profile.point(point_name)

    def _device(self, slave_id: int) -> SimDevice:
        state = self._slaves[slave_id]
        simdata = [
            SimData(point.address, values=[0] * point.register_count, datatype=DataType.REGISTERS)
            for point in state.profile.points
        ]
        read_function = _READ_FUNCTION[state.profile.modbus.register_table]

        async def action(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            _set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            with self._lock:
                if state.offline:
                    raise NoSuchIdException(f"slave {slave_id} is offline")  # -> no answer
                if function_code != read_function:
                    return ExcCodes.ILLEGAL_FUNCTION
                for offset in range(count):
                    registers[address - start_address + offset] = state.image[address + offset]
            return None

        return SimDevice(slave_id, simdata=simdata, action=action)

    async def _follow(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)  # the signal's own period, not a race workaround
            self.update()

    async def _serve_until_stopped(
        self, on_listening: Callable[[SimulatedStation], None] | None
    ) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def request() -> None:
            loop.call_soon_threadsafe(stop.set)

        self._stop_request = request
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
        async with self:
            if on_listening is not None:
                on_listening(self)
            await stop.wait()


def _store(slave: _Slave, point: Point, registers: Sequence[int]) -> None:
    for offset, register in enumerate(registers):
        slave.image[point.address + offset] = register


def _silent_catch_all() -> SimDevice:
    """Device id 0 stands for every undefined id: it never answers, like an empty bus address."""

    async def no_answer(*_args: object) -> ExcCodes | None:
        raise NoSuchIdException("no such slave")

    everything = SimData(0, count=_ALL_REGISTERS, values=0, datatype=DataType.REGISTERS)
    return SimDevice(0, simdata=[everything], action=no_answer)
