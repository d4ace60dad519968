"""Simulated Modbus slaves: register images built from device profiles, values and faults.

Layer: pure state plus pymodbus ``SimDevice`` descriptions; no sockets, no
serial ports. A server (:mod:`simulators.modbus_tcp`, or an RTU bus on a
pseudo-terminal) serves :meth:`SimulatedSlaves.sim_devices`; every request
reads the images kept here, under one lock, so values can change from any thread.

Registers are never a table of their own: each point of a slave's ``Profile``
is encoded with ``device_profiles.encode_point``, the codec the edge poller
decodes with. Values are in each quantity's canonical unit on the way in (the
generator, :meth:`SimulatedSlaves.set_value`) and out
(:meth:`SimulatedSlaves.served`); the images hold them in the unit each point
reports, as a real sensor would. Every point sits in the table its function
code reads (coils, discrete inputs, holding or input registers); a read of a
register no point names gets ILLEGAL_ADDRESS, a read of a table the sensor
does not have ILLEGAL_FUNCTION, as a real sensor answers.

Writable settings (``profile.modbus.settings``) hold the slave's id and its
factory baud-rate code, answer reads, and take FC06/FC16 writes (with their
unlock and save registers) within the values the profile allows;
:meth:`SimulatedSlaves.settings` shows what was set.

Faults: :meth:`SimulatedSlaves.set_offline` makes a slave silent (no answer at
all, as a dead RS-485 sensor); :meth:`SimulatedSlaves.inject` makes one point
stuck, out of its measuring range, or report its sentinel;
:meth:`SimulatedSlaves.set_raw` serves arbitrary registers. Unknown slave ids
are silent too.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

from device_profiles import Point, Profile
from simulators.errors import SimulatorError
from simulators.register_image import Fault, RegisterImage
from simulators.signals import ValueGenerator, physical

_ALL_REGISTERS = 0x10000
# request function code -> the table it reads (1 coils, 2 discrete inputs, 3 holding, 4 input)
_READS = {1: 1, 2: 2, 3: 3, 4: 4}
_WRITES = (6, 16)  # write single / multiple holding registers: the settings

__all__ = ["Fault", "SimulatedSlaves"]


class SimulatedSlaves:
    """Slaves that serve device profiles, whatever carries their requests."""

    def __init__(
        self,
        slaves: Mapping[int, Profile],
        *,
        generator: ValueGenerator | None = None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """Build the register images at the generator's values of now.

        Args:
            slaves: slave id (1..247) -> the profile it serves.
            generator: the value source, canonical units (default: :func:`signals.physical`,
                seed 0).
            clock_s: UTC epoch seconds handed to the generator.

        Raises:
            SimulatorError: a slave id outside 1..247, or a profile that is not Modbus.
        """
        for slave, profile in slaves.items():
            if not 1 <= slave <= 247:
                raise SimulatorError(f"slave id {slave} outside 1..247")
            if profile.protocol != "modbus":
                raise SimulatorError(f"{profile.model} speaks {profile.protocol}, not Modbus")
        self._generator = generator or physical()
        self._clock_s = clock_s
        self._slaves = {slave: RegisterImage(slave, profile) for slave, profile in slaves.items()}
        self._lock = threading.Lock()
        self.update()

    @property
    def slave_ids(self) -> list[int]:
        """The slave ids that answer."""
        return list(self._slaves)

    def settings(self, slave: int) -> dict[str, int | None]:
        """What each writable setting of ``slave`` holds now (a baud rate, not its code).

        A write of ``slave_address`` is recorded here; the slave keeps answering
        at its old id until whoever serves it re-addresses it (as a real sensor
        does after the save write or a power cycle, depending on the model).
        """
        with self._lock:
            return self._slaves[slave].settings()

    def sim_devices(self) -> list[SimDevice]:
        """pymodbus devices for a server: one per slave, and a silent one for every other id."""
        return [*(self._device(slave) for slave in self._slaves), _silent_catch_all()]

    def update(self, time_s: float | None = None) -> None:
        """Set every unpinned point to the generator's value at ``time_s`` (default: now)."""
        now_s = self._clock_s() if time_s is None else time_s
        with self._lock:
            for image in self._slaves.values():
                image.update(self._generator, now_s)

    def set_value(self, slave: int, point_name: str, value: float) -> float:
        """Pin ``point_name`` of ``slave`` to ``value`` (canonical unit).

        Returns:
            the value a poller will decode, in the canonical unit (quantisation included).

        Raises:
            KeyError: no such slave or point.
            RegisterError: the value does not fit the point's data type.
        """
        self._point(slave, point_name)
        with self._lock:
            return self._slaves[slave].set_value(point_name, value)

    def inject(self, slave: int, point_name: str, fault: Fault) -> None:
        """Make one point misbehave until :meth:`unpin`.

        ``stuck`` freezes the value served now; ``out_of_range`` serves a value
        beyond the sensor's measuring range (or its quantity's plausible range);
        ``sentinel`` serves the point's first "probe broken" raw value.

        Raises:
            KeyError: no such slave or point.
            SimulatorError: the point has no sentinel, or no out-of-range value fits its type.
        """
        self._point(slave, point_name)
        with self._lock:
            self._slaves[slave].inject(point_name, fault)

    def set_raw(self, slave: int, point_name: str, registers: Sequence[int]) -> None:
        """Pin ``point_name`` to raw ``registers`` (e.g. a sensor's probe-missing value)."""
        self._point(slave, point_name)
        with self._lock:
            self._slaves[slave].set_raw(point_name, registers)

    def unpin(self, slave: int, point_name: str) -> None:
        """Let ``point_name`` follow the generator again (from the next update)."""
        self._point(slave, point_name)
        with self._lock:
            self._slaves[slave].unpin(point_name)

    def served(self, slave: int) -> dict[str, float]:
        """Point name -> value as a poller decodes it now, canonical unit, quantisation included.

        Points whose registers hold a probe-missing raw value are left out.
        """
        with self._lock:
            return self._slaves[slave].served()

    def registers(self, slave: int, point_name: str) -> tuple[int, ...]:
        """The raw registers (bits) ``point_name`` of ``slave`` serves now."""
        point = self._point(slave, point_name)
        with self._lock:
            return tuple(self._slaves[slave].registers_of(point))

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
        tables, used_tables = _tables(state)

        async def action(  # noqa: PLR0917 - the signature pymodbus calls
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            with self._lock:
                if state.offline:
                    raise NoSuchIdException(f"slave {slave_id} is offline")  # -> no answer
                if function_code in _WRITES:
                    refused = state.write(address, [int(v) for v in set_values or []])
                    return None if refused is None else ExcCodes(refused)
                table = _READS.get(function_code)
                if table not in used_tables:  # a sensor without such registers refuses the code
                    return ExcCodes.ILLEGAL_FUNCTION
                wanted = state.read(table, address, count)
                if wanted is None:
                    return ExcCodes.ILLEGAL_ADDRESS
                if table in (1, 2):
                    _fill_bits(registers, start_address, address, wanted)
                else:
                    for offset, value in enumerate(wanted):
                        registers[address - start_address + offset] = value
            return None

        simdata = (tables[0], tables[1], tables[2], tables[3])
        # bit addressing: coil n is bit n % 16 of packed register n // 16, as pymodbus builds it
        return SimDevice(slave_id, simdata=simdata, action=action, use_bit_addressing=True)


def _tables(state: RegisterImage) -> tuple[tuple[list[SimData], ...], set[int]]:
    """pymodbus's four tables (coils, discrete inputs, holding, input) and those in use."""
    profile = state.profile
    tables: tuple[list[SimData], ...] = ([], [], [], [])
    used: set[int] = {point.function_code for point in profile.points}
    used |= {setting.read_function_code for setting in profile.modbus.settings}
    taken = {(p.function_code, a) for p in profile.points for a in range(p.address, p.end)}
    extra = {(s.read_function_code, s.address) for s in profile.modbus.settings}
    extra |= {(3, address) for address in state.writable}
    for code, address in sorted(extra - taken):
        tables[code - 1].append(SimData(address, values=[0], datatype=DataType.REGISTERS))
    for point in profile.points:
        kind = DataType.BITS if point.is_bit else DataType.REGISTERS
        values: list[int] | list[bool] = (
            [False] * point.register_count if point.is_bit else [0] * point.register_count
        )
        tables[point.function_code - 1].append(SimData(point.address, values=values, datatype=kind))
    # pymodbus wants every table; a table no point uses spans the profile's addresses
    # (and one read beyond) so that its reads reach the action, which refuses them
    span = min(_ALL_REGISTERS, max(p.end for p in profile.points) + 125)
    for index, table in enumerate(tables):
        if not table:
            kind = DataType.BITS if index < 2 else DataType.REGISTERS
            table.append(SimData(0, count=span if index >= 2 else 16, values=0, datatype=kind))
    return tables, used


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
