"""The registers one simulated slave serves, built from its device profile.

Layer: pure data and the shared profile codec; no I/O, no asyncio, no pymodbus.
Both servers use it: the Modbus TCP station (:mod:`simulators.slaves`, under its
lock) and the RTU bus on a pseudo-terminal (:mod:`simulators.modbus_rtu`).

Registers are kept per function code (1 coils, 2 discrete inputs, 3 holding, 4
input), each point in the table its function code reads, plus the profile's
writable settings (slave address, factory baud rate) with their unlock and save
registers. Values come from a :data:`signals.ValueGenerator`, encoded with
``device_profiles.encode_point`` (the codec the poller decodes with). Values are
in each quantity's canonical unit on the way in and out; the image holds them in
the unit each point reports, clamped to the sensor's measuring range, as a real
sensor would.

Writes reach only settings and their unlock/save registers, within the values
the profile allows (else ``ILLEGAL_ADDRESS`` / ``ILLEGAL_VALUE``, nothing
written). Faults: a point stuck, out of its measuring range or at its sentinel
(:meth:`RegisterImage.inject`), raw registers (:meth:`RegisterImage.set_raw`),
the whole sensor stuck (:meth:`RegisterImage.stick`) or silent (``offline``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Literal

from device_profiles import (
    InvalidRawError,
    Measurement,
    Point,
    Profile,
    ProfileError,
    Quantity,
    RegisterError,
    Setting,
    decode_point,
    encode_point,
    load_quantities,
)
from device_profiles.measure import from_canonical, to_canonical
from device_profiles.settings import BAUD_RATE, SLAVE_ADDRESS
from simulators.errors import SimulatorError
from simulators.signals import ValueGenerator

# Modbus exception codes a write is refused with (pymodbus's ExcCodes has the same numbers)
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3

Fault = Literal["stuck", "out_of_range", "sentinel"]


class RegisterImage:
    """Register address -> value for one slave, which points are pinned, what is writable."""

    def __init__(self, slave: int, profile: Profile, baudrate: int | None = None) -> None:
        """Point registers are 0 until the first :meth:`update`.

        Settings hold what the sensor was configured with: ``slave``, and its baud
        rate (``baudrate``, default the profile's factory one); other settings
        their first code, else their minimum.
        """
        self.slave = slave
        self.profile = profile
        self.offline = False
        self.pinned: set[str] = set()
        self.tables: dict[int, dict[int, int]] = {}
        for point in profile.points:
            table = self.tables.setdefault(point.function_code, {})
            table.update(dict.fromkeys(range(point.address, point.end), 0))
        # holding addresses a write may reach: a setting's, or an unlock/save register (None)
        self.writable: dict[int, Setting | None] = {}
        modbus = profile.modbus
        for setting in modbus.settings:
            self.tables.setdefault(setting.read_function_code, {})[setting.address] = _initial(
                setting, slave, baudrate or modbus.serial.baudrate
            )
            self.writable[setting.address] = setting
            for write in (*setting.before, *setting.after):
                self.writable.setdefault(write.address, None)

    @property
    def registers(self) -> dict[int, int]:
        """The registers of the profile's default table (address -> value)."""
        return self.tables.get(self.profile.modbus.default_function_code, {})

    def update(self, generator: ValueGenerator, time_s: float) -> None:
        """Set every unpinned point to the generator's value at ``time_s``."""
        quantities = load_quantities()
        for point in self.profile.points:
            if point.name in self.pinned:
                continue
            quantity = quantities[point.quantity]
            value = generator(self.slave, point, quantity, time_s)
            with suppress(RegisterError):  # a value the type cannot hold: keep the last
                self._store(point, encode_point(point, as_served(point, quantity, value)))

    def set_value(self, point_name: str, value: float) -> float:
        """Pin a point to ``value`` (canonical unit); return what a poller will decode.

        Raises:
            KeyError: no such point.
            RegisterError: the value does not fit the point's data type.
        """
        point = self.profile.point(point_name)
        quantity = load_quantities()[point.quantity]
        registers = encode_point(point, from_canonical(point, quantity, value))
        self._store(point, registers)
        self.pinned.add(point_name)
        return to_canonical(point, quantity, decode_point(point, registers))

    def inject(self, point_name: str, fault: Fault) -> None:
        """Make one point misbehave until :meth:`unpin`.

        ``stuck`` freezes the value served now; ``out_of_range`` serves a value
        beyond the sensor's measuring range (or its quantity's plausible range);
        ``sentinel`` serves the point's first "probe broken" raw value.

        Raises:
            KeyError: no such point.
            SimulatorError: the point has no sentinel, or no out-of-range value fits its type.
        """
        point = self.profile.point(point_name)
        if fault == "stuck":
            self.pinned.add(point_name)
        elif fault == "sentinel":
            self.set_sentinel(point_name)
        else:
            quantity = load_quantities()[point.quantity]
            for value in _beyond_range(point, quantity):
                with suppress(RegisterError):
                    self.set_raw(point_name, encode_point(point, value))
                    return
            raise SimulatorError(f"{point_name}: no out-of-range value fits {point.data_type}")

    def set_sentinel(self, point_name: str) -> None:
        """Serve the point's first "probe broken" raw value (``invalid_raw``).

        Raises:
            SimulatorError: the profile names no sentinel for the point.
        """
        point = self.profile.point(point_name)
        if not point.invalid_raw:
            raise SimulatorError(f"{point_name} has no sentinel value (invalid_raw)")
        raw_point = point.model_copy(update={"scale": 1.0, "offset": 0.0, "invalid_raw": ()})
        self.set_raw(point_name, encode_point(raw_point, point.invalid_raw[0]))

    def set_raw(self, point_name: str, registers: Sequence[int]) -> None:
        """Pin a point to raw ``registers`` (a sentinel such as 0x7FFF, an impossible value)."""
        point = self.profile.point(point_name)
        if len(registers) != point.register_count:
            raise SimulatorError(f"{point_name} needs {point.register_count} registers")
        self._store(point, tuple(registers))
        self.pinned.add(point_name)

    def stick(self) -> None:
        """A stuck sensor: every point keeps the value it has now."""
        self.pinned.update(point.name for point in self.profile.points)

    def unpin(self, point_name: str | None = None) -> None:
        """Let one point (default: all) follow the generator again."""
        if point_name is None:
            self.pinned.clear()
        else:
            self.profile.point(point_name)
            self.pinned.discard(point_name)

    def read(self, function_code: int, start: int, count: int) -> list[int] | None:
        """Registers (bits) ``start .. start+count-1``; ``None`` if one is not in the map."""
        table = self.tables.get(function_code, {})
        try:
            return [table[a] for a in range(start, start + count)]
        except KeyError:
            return None

    def write(self, address: int, values: Sequence[int]) -> int | None:
        """Apply a write (FC 6/16) from ``address`` on; None, or the exception code refusing it.

        Only settings and their unlock/save registers take writes, a setting only
        a value its profile allows; a refused write changes nothing.
        """
        targets = [self.writable.get(address + i, _NOT_WRITABLE) for i in range(len(values))]
        if any(target is _NOT_WRITABLE for target in targets):
            return ILLEGAL_ADDRESS
        settings = [(t, v) for t, v in zip(targets, values, strict=True) if t is not None]
        if not all(_allowed(setting, value) for setting, value in settings):
            return ILLEGAL_VALUE
        for setting, value in settings:
            self.tables.setdefault(setting.read_function_code, {})[setting.address] = value
        return None

    def settings(self) -> dict[str, int | None]:
        """What each writable setting holds now (a baud rate, not its code)."""
        return {
            s.name: s.decode(self.tables[s.read_function_code][s.address])
            for s in self.profile.modbus.settings
        }

    def setting_address(self, name: str) -> int | None:
        """Register of the profile's writable setting ``name`` (``slave_address``), if any."""
        setting = self.profile.modbus.setting(name)
        return None if setting is None else setting.address

    def served(self) -> dict[str, float]:
        """Point name -> value as a poller decodes it now (canonical unit); sentinels left out."""
        quantities = load_quantities()
        values: dict[str, float] = {}
        for point in self.profile.points:
            with suppress(InvalidRawError):
                decoded = decode_point(point, self.registers_of(point))
                values[point.name] = to_canonical(point, quantities[point.quantity], decoded)
        return values

    def registers_of(self, point: Point) -> list[int]:
        """The raw registers (bits) ``point`` serves now."""
        table = self.tables[point.function_code]
        return [table[a] for a in range(point.address, point.end)]

    def _store(self, point: Point, registers: Sequence[int]) -> None:
        table = self.tables[point.function_code]
        for offset, register in enumerate(registers):
            table[point.address + offset] = register


_NOT_WRITABLE = Setting(name="not_writable", address=0)


def _initial(setting: Setting, slave: int, baudrate: int) -> int:
    value = setting.min
    with suppress(ProfileError):
        if setting.name == SLAVE_ADDRESS:
            value = setting.encode(slave)
        elif setting.name == BAUD_RATE:
            value = setting.encode(baudrate)
        elif setting.codes:
            value = next(iter(setting.codes))
    return value


def _allowed(setting: Setting, value: int) -> bool:
    if setting.decode(value) is None:
        return False
    return setting.codes is not None or setting.min <= value <= setting.max


def as_served(point: Measurement, quantity: Quantity, value: float) -> float:
    """A canonical value in the point's (or field's) unit, inside the sensor's measuring range."""
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
