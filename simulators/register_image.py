"""The registers one simulated slave serves, built from its device profile.

Layer: pure data and the shared profile codec; no I/O, no asyncio. Registers
are kept per function code (1 coils, 2 discrete inputs, 3 holding, 4 input),
plus the profile's writable settings (slave address, baud rate). Values come
from a :data:`signals.ValueGenerator`, encoded with
``device_profiles.encode_point`` (the codec the poller decodes with). Tests pin
values (:meth:`RegisterImage.set_value`), raw registers (a sensor's sentinel,
an out-of-range raw value) or freeze what is served (a stuck sensor), and read
back exactly what a poller will decode (:meth:`RegisterImage.served`).
Values are in each quantity's canonical unit on the way in and out; the image
holds them in the unit each point reports, clamped to the sensor's measuring
range, as a real sensor would.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress

from device_profiles import (
    InvalidRawError,
    Measurement,
    Point,
    Profile,
    ProfileError,
    Quantity,
    RegisterError,
    decode_point,
    encode_point,
    load_quantities,
)
from device_profiles.measure import from_canonical, to_canonical
from device_profiles.settings import BAUD_RATE, SLAVE_ADDRESS
from simulators.errors import SimulatorError
from simulators.signals import ValueGenerator


class RegisterImage:
    """Register address -> value for one slave, plus which points are pinned."""

    def __init__(self, slave: int, profile: Profile, baudrate: int | None = None) -> None:
        """Point registers are 0 until the first :meth:`update`; settings hold slave and baud."""
        self.slave = slave
        self.profile = profile
        self.tables: dict[int, dict[int, int]] = {}
        for point in profile.points:
            table = self.tables.setdefault(point.function_code, {})
            table.update(dict.fromkeys(range(point.address, point.end), 0))
        self.writable: set[int] = set(self.tables.get(3, {}))
        for setting in profile.modbus.settings:
            current = {SLAVE_ADDRESS: slave, BAUD_RATE: baudrate}.get(setting.name)
            register = 0
            with suppress(ProfileError, TypeError):
                register = setting.encode(current) if current is not None else 0
            self.tables.setdefault(setting.read_function_code, {})[setting.address] = register
            self.writable.add(setting.address)
            self.writable.update(w.address for w in (*setting.before, *setting.after))
        self.pinned: set[str] = set()

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

    def write(self, address: int, value: int) -> bool:
        """Store one holding register a master wrote; False if it is not writable."""
        if address not in self.writable:
            return False
        for setting in self.profile.modbus.settings:
            if setting.address == address:
                self.tables.setdefault(setting.read_function_code, {})[address] = value
        if address in self.tables.get(3, {}):
            self.tables[3][address] = value
        return True

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
                decoded = decode_point(point, self._registers_of(point))
                values[point.name] = to_canonical(point, quantities[point.quantity], decoded)
        return values

    def _registers_of(self, point: Point) -> list[int]:
        table = self.tables[point.function_code]
        return [table[a] for a in range(point.address, point.end)]

    def _store(self, point: Point, registers: Sequence[int]) -> None:
        table = self.tables[point.function_code]
        for offset, register in enumerate(registers):
            table[point.address + offset] = register


def as_served(point: Measurement, quantity: Quantity, value: float) -> float:
    """A canonical value in the point's (or field's) unit, inside the sensor's measuring range."""
    own = from_canonical(point, quantity, value)
    if point.valid is not None:
        own = min(point.valid.max, max(point.valid.min, own))
    if point.enum is not None:
        codes = sorted(point.enum)
        own = min(codes, key=lambda code: abs(code - own))
    return own
