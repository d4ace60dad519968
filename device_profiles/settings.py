"""Writable configuration registers of a Modbus sensor (address, baud rate, ...).

Layer: pure data and pure encoding. Describes how a tool such as
``shanshui edge scan --set-address`` changes a setting: which register, which
function code writes it, which codes mean which value (baud-rate tables), and
which writes must come before (unlock) or after (save) it. Nothing here talks
to a bus.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, model_validator

from device_profiles.errors import ProfileError
from device_profiles.measurement import STRICT


class Write(BaseModel):
    """One register write: ``value`` into ``address`` (function code 6)."""

    model_config = STRICT

    address: int = Field(ge=0, le=0xFFFF)
    value: int = Field(ge=0, le=0xFFFF)


class Setting(BaseModel):
    """One writable configuration register.

    ``codes`` maps what is written to what it means (``{2: 9600}`` for a
    baud-rate table); without it the value is written as it is, within
    ``min``..``max``.
    """

    model_config = STRICT

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    address: int = Field(ge=0, le=0xFFFF)
    write_function_code: Literal[6, 16] = 6
    read_function_code: Literal[3, 4] = 3
    min: int = Field(default=0, ge=0, le=0xFFFF)
    max: int = Field(default=0xFFFF, ge=0, le=0xFFFF)
    codes: dict[int, int] | None = None
    before: tuple[Write, ...] = Field(default=(), description="writes that unlock the setting")
    after: tuple[Write, ...] = Field(default=(), description="writes that save it")
    effective: Literal["immediately", "after_power_cycle"] = "immediately"
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min {self.min} must not be above max {self.max}")
        if self.codes is not None:
            if not self.codes:
                raise ValueError("codes needs at least one entry")
            bad = [code for code in self.codes if not 0 <= code <= 0xFFFF]
            if bad:
                raise ValueError(f"code {bad[0]} does not fit a register")
        return self

    def encode(self, value: int) -> int:
        """The register value that sets ``value`` (a baud rate becomes its code).

        Raises:
            ProfileError: the device cannot take ``value``.
        """
        if self.codes is not None:
            for code, meaning in self.codes.items():
                if meaning == value:
                    return code
            allowed = ", ".join(str(v) for v in sorted(self.codes.values()))
            raise ProfileError(f"{self.name}: {value} is not one of {allowed}")
        if not self.min <= value <= self.max:
            raise ProfileError(f"{self.name}: {value} is outside {self.min}..{self.max}")
        return value

    def decode(self, register: int) -> int | None:
        """What a register value read back means (None: a code the table does not know)."""
        if self.codes is not None:
            return self.codes.get(register)
        return register

    def writes(self, value: int) -> tuple[Write, ...]:
        """Every write, in order, that sets ``value`` (unlock, the setting, save)."""
        return (*self.before, Write(address=self.address, value=self.encode(value)), *self.after)


SLAVE_ADDRESS = "slave_address"
BAUD_RATE = "baud_rate"
