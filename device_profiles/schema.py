"""Pydantic models of the vocabulary and of sensor-model profiles.

Layer: pure data. YAML on disk, these frozen models in memory; unknown keys are
refused (``extra="forbid"``) so a typo in a profile is an error, not a silent
default. Register decoding lives in :mod:`device_profiles.registers`.
"""

from __future__ import annotations

import struct
from enum import StrEnum
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# allow_inf_nan=False: a scale, offset or range of .nan or .inf would pass every other check.
_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataType(StrEnum):
    """How a value is laid out in 16-bit registers."""

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
        """Number of 16-bit registers the value occupies."""
        return _STRUCT[self][1]

    @property
    def is_float(self) -> bool:
        """True for IEEE-754 types."""
        return self in (DataType.FLOAT32, DataType.FLOAT64)

    def raw_limits(self) -> tuple[int, int]:
        """Smallest and largest raw integer (meaningless for floats)."""
        bits = 16 * self.register_count
        if self.struct_code.islower():
            return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        return 0, 2**bits - 1


# data type -> (struct code, registers); the same table pymodbus's simulator keeps.
_STRUCT: dict[DataType, tuple[str, int]] = {
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
RegisterTable = Literal["holding", "input"]


class Quantity(BaseModel):
    """One entry of ``quantities.yaml``."""

    model_config = _STRICT

    code: str
    name: str
    unit: str
    min: float
    max: float
    hj212: str | None = None

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Self:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self


class Point(BaseModel):
    """One value a sensor exposes: where it sits and how to turn registers into it."""

    model_config = _STRICT

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    quantity: str
    address: int = Field(ge=0, le=0xFFFF, description="0-based wire address of the first register")
    data_type: DataType
    scale: float = 1.0
    offset: float = 0.0
    word_order: Order = "big"
    byte_order: Order = "big"
    invalid_raw: tuple[int, ...] = Field(
        default=(),
        description="raw values the sensor reports for a missing or broken probe",
    )

    @property
    def register_count(self) -> int:
        """Registers this point occupies."""
        return self.data_type.register_count

    @property
    def end(self) -> int:
        """One past the last register of this point."""
        return self.address + self.register_count

    @field_validator("scale")
    @classmethod
    def _scale_not_zero(cls, scale: float) -> float:
        if scale == 0:
            raise ValueError("scale must not be 0")
        return scale

    @model_validator(mode="after")
    def _fits(self) -> Self:
        if self.end > 0x10000:
            raise ValueError(f"registers {self.address}..{self.end - 1} run past 65535")
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
    """Modbus facts of a model: register table, default address, serial defaults."""

    model_config = _STRICT

    register_table: RegisterTable = "holding"
    default_slave: int = Field(default=1, ge=1, le=247)
    serial: SerialDefaults = SerialDefaults()
    max_registers_per_read: int = Field(default=125, ge=1, le=125)


class Profile(BaseModel):
    """A sensor model: what it measures and where each value sits."""

    model_config = _STRICT

    model: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    manufacturer: str
    description: str
    source: str = Field(description="where the register map comes from")
    protocol: Literal["modbus"] = "modbus"
    modbus: ModbusSpec = ModbusSpec()
    # Not Field(min_length=1): when every point fails, pydantic would also report
    # "at least 1 item ... not 0", which misleads whoever reads the error.
    points: tuple[Point, ...]

    @field_validator("points")
    @classmethod
    def _has_points(cls, points: tuple[Point, ...]) -> tuple[Point, ...]:
        if not points:
            raise ValueError("a profile needs at least one point")
        return points

    @model_validator(mode="after")
    def _points_are_distinct(self) -> Self:
        names: set[str] = set()
        taken: dict[int, str] = {}
        for point in self.points:
            if point.name in names:
                raise ValueError(f"point name {point.name!r} used twice")
            names.add(point.name)
            for register in range(point.address, point.end):
                if register in taken:
                    raise ValueError(
                        f"point {point.name!r} overlaps point {taken[register]!r} "
                        f"at register {register}"
                    )
                taken[register] = point.name
        return self

    def point(self, name: str) -> Point:
        """The point called ``name``; KeyError if there is none."""
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(name)
