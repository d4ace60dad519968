"""A simulated Modbus TCP station: one or more slaves built from device profiles.

Layer: asyncio server on top of pymodbus's ``ModbusTcpServer`` and ``SimDevice``.
Registers are never a table of their own: each point of the slave's
``Profile`` is encoded with ``device_profiles.encode_point``, the same codec
the edge poller decodes with. Values come from a :data:`signals.ValueGenerator`
and change every ``update_interval_s``; tests pin values with
:meth:`SimulatedStation.set_value` and read back exactly what is served with
:meth:`SimulatedStation.served`.

Values are in each quantity's canonical unit on the way in (generator,
:meth:`SimulatedStation.set_value`) and out (:meth:`SimulatedStation.served`);
the station converts them into the unit each point reports, as a real sensor
would hold them. Every point sits in the table its function code reads (coils,
discrete inputs, holding or input registers); a read of a register no point
names, or with another function code, gets the exception a real sensor sends.

Faults: :meth:`SimulatedStation.set_offline` makes a slave silent (the request
gets no answer at all, so the client times out, as with a dead RS-485 sensor
behind a TCP gateway); :meth:`SimulatedStation.inject` makes one point stuck,
out of its measuring range, or report its sentinel; :meth:`SimulatedStation.set_raw`
serves arbitrary registers. Unknown slave ids are silent too.
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
from typing import Literal, cast

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from device_profiles import (
    InvalidRawError,
    Point,
    Profile,
    Quantity,
    RegisterError,
    builtin_profile,
    decode_point,
    encode_point,
    load_quantities,
)
from device_profiles.measure import from_canonical, to_canonical
from simulators.errors import SimulatorError
from simulators.signals import ValueGenerator, physical

_ALL_REGISTERS = 0x10000
# request function code -> the table it reads (1 coils, 2 discrete inputs, 3 holding, 4 input)
_READS = {1: 1, 2: 2, 3: 3, 4: 4}

Fault = Literal["stuck", "out_of_range", "sentinel"]


@dataclass
class _Slave:
    profile: Profile
    # (function code of the table, address) -> register (0/1 for a bit)
    image: dict[tuple[int, int], int] = field(default_factory=dict)
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
            generator: the value source, canonical units (default: :func:`signals.physical`,
                seed 0).
            clock_s: UTC epoch seconds handed to the generator.
        """
        for slave, profile in slaves.items():
            if not 1 <= slave <= 247:
                raise SimulatorError(f"slave id {slave} outside 1..247")
            if profile.protocol != "modbus":
                raise SimulatorError(f"{profile.model} speaks {profile.protocol}, not Modbus")
        self.host = host
        self._port = port
        self._update_interval_s = update_interval_s
        self._generator = generator or physical()
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
                    quantity = quantities[point.quantity]
                    value = self._generator(slave_id, point, quantity, now_s)
                    with suppress(RegisterError):  # a value the type cannot hold: keep the last
                        _store(
                            slave, point, encode_point(point, _as_served(point, quantity, value))
                        )

    def set_value(self, slave: int, point_name: str, value: float) -> float:
        """Pin ``point_name`` of ``slave`` to ``value`` (canonical unit).

        Returns:
            the value a poller will decode, in the canonical unit (quantisation included).

        Raises:
            KeyError: no such slave or point.
            RegisterError: the value does not fit the point's data type.
        """
        point = self._point(slave, point_name)
        quantity = load_quantities()[point.quantity]
        registers = encode_point(point, from_canonical(point, quantity, value))
        with self._lock:
            _store(self._slaves[slave], point, registers)
            self._slaves[slave].pinned.add(point_name)
        return to_canonical(point, quantity, decode_point(point, registers))

    def inject(self, slave: int, point_name: str, fault: Fault) -> None:
        """Make one point misbehave until :meth:`unpin`.

        ``stuck`` freezes the value served now; ``out_of_range`` serves a value
        beyond the sensor's measuring range (or its quantity's plausible range);
        ``sentinel`` serves the point's first "probe broken" raw value.

        Raises:
            KeyError: no such slave or point.
            SimulatorError: the point has no sentinel, or no out-of-range value fits its type.
        """
        point = self._point(slave, point_name)
        if fault == "stuck":
            with self._lock:
                self._slaves[slave].pinned.add(point_name)
            return
        if fault == "sentinel":
            if not point.invalid_raw:
                raise SimulatorError(f"{point_name} has no sentinel value (invalid_raw)")
            raw_point = point.model_copy(update={"scale": 1.0, "offset": 0.0, "invalid_raw": ()})
            self.set_raw(slave, point_name, encode_point(raw_point, point.invalid_raw[0]))
            return
        quantity = load_quantities()[point.quantity]
        for value in _beyond_range(point, quantity):
            with suppress(RegisterError):
                self.set_raw(slave, point_name, encode_point(point, value))
                return
        raise SimulatorError(f"{point_name}: no out-of-range value fits {point.data_type}")

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
        """Point name -> value as a poller decodes it now, canonical unit, quantisation included.

        Points whose registers hold a probe-missing raw value are left out.
        """
        quantities = load_quantities()
        values: dict[str, float] = {}
        with self._lock:
            state = self._slaves[slave]
            for point in state.profile.points:
                registers = _registers_of(state, point)
                with suppress(InvalidRawError):
                    decoded = decode_point(point, registers)
                    values[point.name] = to_canonical(point, quantities[point.quantity], decoded)
        return values

    def registers(self, slave: int, point_name: str) -> tuple[int, ...]:
        """The raw registers (bits) ``point_name`` of ``slave`` serves now."""
        point = self._point(slave, point_name)
        with self._lock:
            return tuple(_registers_of(self._slaves[slave], point))

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
        tables: tuple[list[SimData], ...] = ([], [], [], [])
        used_tables = {point.function_code for point in state.profile.points}
        for point in state.profile.points:
            kind = DataType.BITS if point.is_bit else DataType.REGISTERS
            values: list[int] | list[bool] = (
                [False] * point.register_count if point.is_bit else [0] * point.register_count
            )
            tables[point.function_code - 1].append(
                SimData(point.address, values=values, datatype=kind)
            )
        # pymodbus wants every table; a table no point uses spans the profile's addresses
        # (and one read beyond) so that its reads reach the action, which refuses them
        span = min(_ALL_REGISTERS, max(p.end for p in state.profile.points) + 125)
        for index, table in enumerate(tables):
            if not table:
                kind = DataType.BITS if index < 2 else DataType.REGISTERS
                table.append(SimData(0, count=span if index >= 2 else 16, values=0, datatype=kind))

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
                table = _READS.get(function_code)
                if table not in used_tables:  # a sensor without such registers refuses the code
                    return ExcCodes.ILLEGAL_FUNCTION
                wanted = [state.image.get((table, address + i)) for i in range(count)]
                if any(value is None for value in wanted):
                    return ExcCodes.ILLEGAL_ADDRESS
                if table in (1, 2):
                    _fill_bits(registers, start_address, address, cast(list[int], wanted))
                else:
                    for offset, value in enumerate(wanted):
                        registers[address - start_address + offset] = cast(int, value)
            return None

        simdata = (tables[0], tables[1], tables[2], tables[3])
        # bit addressing: coil n is bit n % 16 of packed register n // 16, as pymodbus builds it
        return SimDevice(slave_id, simdata=simdata, action=action, use_bit_addressing=True)

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
        slave.image[point.function_code, point.address + offset] = register


def _registers_of(slave: _Slave, point: Point) -> list[int]:
    return [slave.image[point.function_code, a] for a in range(point.address, point.end)]


def _as_served(point: Point, quantity: Quantity, value: float) -> float:
    """A canonical value in the point's unit, inside the sensor's measuring range."""
    own = from_canonical(point, quantity, value)
    if point.valid is not None:
        own = min(point.valid.max, max(point.valid.min, own))
    if point.enum is not None:
        codes = sorted(point.enum)
        own = min(codes, key=lambda code: abs(code - own))
    return own


def _beyond_range(point: Point, quantity: Quantity) -> list[float]:
    """Candidate values (point's unit) outside its measuring or plausible range, nearest first."""
    low = from_canonical(point, quantity, quantity.min)
    high = from_canonical(point, quantity, quantity.max)
    low, high = min(low, high), max(low, high)
    if point.valid is not None:
        low, high = max(low, point.valid.min), min(high, point.valid.max)
    span = max(high - low, abs(point.scale))
    return [high + 0.1 * span, low - 0.1 * span]


def _fill_bits(registers: list[int], start: int, address: int, bits: list[int]) -> None:
    """Put ``bits`` at bit ``address`` of pymodbus's packed coil/discrete-input block."""
    offset = address // 16 - start
    first_bit = address % 16
    count = (first_bit + len(bits) + 15) // 16
    flags = SimUtils.registersToBits(registers[offset : offset + count])
    for index, bit in enumerate(bits):
        flags[first_bit + index] = bool(bit)
    registers[offset : offset + count] = SimUtils.bitsToRegisters(flags)


def _silent_catch_all() -> SimDevice:
    """Device id 0 stands for every undefined id: it never answers, like an empty bus address."""

    async def no_answer(*_args: object) -> ExcCodes | None:
        raise NoSuchIdException("no such slave")

    everything = SimData(0, count=_ALL_REGISTERS, values=0, datatype=DataType.REGISTERS)
    return SimDevice(0, simdata=[everything], action=no_answer)
