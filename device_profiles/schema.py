"""Pydantic models of the vocabulary and of sensor-model profiles.

Layer: pure data. YAML on disk, these frozen models in memory; unknown keys are
refused (``extra="forbid"``) so a typo in a profile is an error, not a silent
default. Register decoding lives in :mod:`device_profiles.registers`, the ASCII
grammar in :mod:`device_profiles.ascii_schema`, writable settings in
:mod:`device_profiles.settings`.

Modbus function codes: 1 coils and 2 discrete inputs hold bits (data type
``bool``); 3 holding and 4 input registers hold 16-bit words.
"""

from __future__ import annotations

import struct
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from device_profiles.ascii_schema import AsciiField, AsciiSpec
from device_profiles.measurement import STRICT, Measurement
from device_profiles.settings import Setting
from device_profiles.yaml_source import LocatedError

_STRICT = STRICT


class DataType(StrEnum):
    """How a value is laid out in 16-bit registers (or, for ``bool``, in one bit)."""

    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT64 = "float64"

    @property
    def struct_code(self) -> str:
        """The :mod:`struct` format character, big-endian layout assumed by the caller."""
        return _STRUCT[self][0]

    @property
    def register_count(self) -> int:
        """Number of 16-bit registers (bits, for ``bool``) the value occupies."""
        return _STRUCT[self][1]

    @property
    def is_float(self) -> bool:
        """True for IEEE-754 types."""
        return self in (DataType.FLOAT32, DataType.FLOAT64)

    def raw_limits(self) -> tuple[int, int]:
        """Smallest and largest raw integer (meaningless for floats)."""
        if self is DataType.BOOL:
            return 0, 1
        bits = 16 * self.register_count
        if self.struct_code.islower():
            return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return 0, 2**bits - 1


# data type -> (struct code, registers); the same table pymodbus's simulator keeps.
# A bit travels as a 0/1 "register" so one codec serves all four function codes.
_STRUCT: dict[DataType, tuple[str, int]] = {
    DataType.BOOL: ("H", 1),
    DataType.INT16: ("h", 1),
    DataType.UINT16: ("H", 1),
    DataType.INT32: ("i", 2),
    DataType.UINT32: ("I", 2),
    DataType.FLOAT32: ("f", 2),
    DataType.INT64: ("q", 4),
    DataType.UINT64: ("Q", 4),
    DataType.FLOAT64: ("d", 4),
}
assert all(struct.calcsize(">" + c) == 2 * n for c, n in _STRUCT.values())  # noqa: S101


Order = Literal["big", "little"]
RegisterTable = Literal["coils", "discrete_inputs", "holding", "input"]
FunctionCode = Literal[1, 2, 3, 4]
FUNCTION_CODES: dict[str, FunctionCode] = {
    "coils": 1,
    "discrete_inputs": 2,
    "holding": 3,
    "input": 4,
}
BIT_FUNCTION_CODES = (1, 2)


class Quantity(BaseModel):
    """One entry of ``quantities.yaml``."""

    model_config = _STRICT

    code: str
    name: str
    unit: str
    min: float
    max: float
    hj212: str | None = None
    molar_mass_g_mol: float | None = Field(
        default=None, gt=0, description="for gases: converts ppm/ppb to µg/m³ and back"
    )

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class Point(Measurement):
    """One value a Modbus sensor exposes: where it sits and how to turn registers into it."""

    address: int = Field(ge=0, le=0xFFFF, description="0-based wire address of the first register")
    data_type: DataType
    function_code: FunctionCode = Field(
        default=3, description="1 coils, 2 discrete inputs, 3 holding, 4 input registers"
    )
    word_order: Order = "big"
    byte_order: Order = "big"
    invalid_raw: tuple[int, ...] = Field(
        default=(),
        description="sentinels: raw values the sensor reports for a missing or broken probe",
    )

    @property
    def register_count(self) -> int:
        """Registers (bits, for coils and discrete inputs) this point occupies."""
        return self.data_type.register_count

    @property
    def end(self) -> int:
        """One past the last register of this point."""
        return self.address + self.register_count

    @property
    def is_bit(self) -> bool:
        """True for coils and discrete inputs (function codes 1 and 2)."""
        return self.function_code in BIT_FUNCTION_CODES

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.end > 0x10000:
            raise ValueError(f"registers {self.address}..{self.end - 1} run past 65535")
        if self.is_bit != (self.data_type is DataType.BOOL):
            raise ValueError(
                "function codes 1 and 2 read bits: data_type bool, and bool only with them"
            )
        if self.invalid_raw and self.data_type.is_float:
            raise ValueError(f"invalid_raw is not allowed with data_type {self.data_type}")
        low, high = self.data_type.raw_limits()
        for raw in self.invalid_raw:
            if not low <= raw <= high:
                raise ValueError(f"invalid_raw {raw} does not fit {self.data_type}")
        return self


class SerialDefaults(BaseModel):
    """Factory serial settings of the model (RTU), which a bus may override."""

    model_config = _STRICT

    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class ModbusSpec(BaseModel):
    """Modbus facts of a model: default table, address, serial defaults, settings."""

    model_config = _STRICT

    register_table: RegisterTable = Field(
        default="holding", description="the table of points that name no function_code"
    )
    default_slave: int = Field(default=1, ge=1, le=247)
    serial: SerialDefaults = SerialDefaults()
    max_registers_per_read: int = Field(default=125, ge=1, le=125)
    max_gap: int = Field(
        default=0,
        ge=0,
        le=124,
        description="unused registers one read may span to join points (0: the device "
        "answers reads of unnamed registers with an exception)",
    )
    settings: tuple[Setting, ...] = Field(
        default=(), description="writable configuration registers (slave_address, baud_rate)"
    )

    @property
    def default_function_code(self) -> FunctionCode:
        """The function code of :attr:`register_table`."""
        return FUNCTION_CODES[self.register_table]

    def setting(self, name: str) -> Setting | None:
        """The writable setting called ``name`` (``slave_address``, ``baud_rate``), if any."""
        for setting in self.settings:
            if setting.name == name:
                return setting
        return None

    @field_validator("settings")
    @classmethod
    def _distinct_settings(cls, settings: tuple[Setting, ...]) -> tuple[Setting, ...]:
        names = [s.name for s in settings]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"setting {name!r} described twice")
        return settings


class Profile(BaseModel):
    """A sensor model: what it measures and where (or in which line) each value sits."""

    model_config = _STRICT

    model: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    manufacturer: str
    description: str
    source: str = Field(description="where the register map comes from")
    verified: bool = Field(
        default=True, description="False: the map is not confirmed against a vendor document"
    )
    protocol: Literal["modbus", "ascii"] = "modbus"
    modbus: ModbusSpec = ModbusSpec()
    ascii: AsciiSpec | None = None
    # Not Field(min_length=1): when every point fails, pydantic would also report
    # "at least 1 item ... not 0", which misleads whoever reads the error.
    points: tuple[Point, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _default_function_code(cls, data: Any) -> Any:
        """Points that name no function code read the profile's ``register_table``."""
        if not isinstance(data, dict):
            return data
        modbus = data.get("modbus")
        table = modbus.get("register_table") if isinstance(modbus, dict) else None
        points = data.get("points")
        if table not in FUNCTION_CODES or not isinstance(points, list | tuple):
            return data
        code = FUNCTION_CODES[table]
        filled = [
            {"function_code": code, **p} if isinstance(p, dict) and "function_code" not in p else p
            for p in points
        ]
        return {**data, "points": filled}

    @model_validator(mode="after")
    def _protocol_parts(self) -> Self:
        if self.protocol == "modbus":
            if not self.points:
                raise LocatedError(("points",), "a profile needs at least one point")
            if self.ascii is not None:
                raise LocatedError(("ascii",), "a modbus profile has no ascii section")
        elif self.ascii is None:
            raise LocatedError(("protocol",), "an ascii profile needs an ascii section")
        elif self.points:
            raise LocatedError(("points",), "an ascii profile lists its fields under ascii")
        return self

    @model_validator(mode="after")
    def _points_are_distinct(self) -> Self:
        names: set[str] = set()
        taken: dict[tuple[int, int], str] = {}
        for point in self.points:
            if point.name in names:
                raise ValueError(f"point name {point.name!r} used twice")
            names.add(point.name)
            for register in range(point.address, point.end):
                key = (point.function_code, register)
                if key in taken:
                    raise ValueError(
                        f"point {point.name!r} overlaps point {taken[key]!r} at register {register}"
                    )
                taken[key] = point.name
        return self

    @property
    def measurements(self) -> tuple[Measurement, ...]:
        """Every value the model reports: Modbus points or ASCII fields."""
        if self.ascii is not None:
            return self.ascii.fields
        return self.points

    @property
    def ascii_fields(self) -> tuple[AsciiField, ...]:
        """The fields of an ASCII profile (empty for Modbus)."""
        return self.ascii.fields if self.ascii is not None else ()

    def point(self, name: str) -> Point:
        """The point called ``name``; KeyError if there is none."""
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(name)

    def measurement(self, name: str) -> Measurement:
        """The point or ASCII field called ``name``; KeyError if there is none."""
        for item in self.measurements:
            if item.name == name:
                return item
        raise KeyError(name)
