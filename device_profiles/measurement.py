"""What every measured value of a profile declares, whatever the protocol.

Layer: pure data (pydantic models). A Modbus point (:class:`device_profiles.schema.Point`)
and an ASCII field (:class:`device_profiles.ascii_schema.AsciiField`) both
derive from :class:`Measurement`: its name, its quantity, the unit the sensor
reports in, scale and offset, the sensor's own measuring range, enumerated
codes, and a per-device :class:`Calibration`.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# allow_inf_nan=False: a scale, offset or range of .nan or .inf would pass every other check.
STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ValidRange(BaseModel):
    """The sensor's measuring range, in the unit it reports; outside it a value is flagged T."""

    model_config = STRICT

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min >= self.max:
            raise ValueError(f"min {self.min} must be below max {self.max}")
        return self

    def __contains__(self, value: object) -> bool:
        """True when ``value`` lies in ``[min, max]``."""
        return isinstance(value, int | float) and self.min <= value <= self.max


class Calibration(BaseModel):
    """A device's own correction, applied to the canonical value: ``value * factor + offset``.

    Set per device in gateway.yaml (a technician's two-point check against a
    reference instrument), never in a profile, which describes every unit of a model.
    """

    model_config = STRICT

    factor: float = 1.0
    offset: float = 0.0

    @field_validator("factor")
    @classmethod
    def _factor_not_zero(cls, factor: float) -> float:
        if factor == 0:
            raise ValueError("factor must not be 0")
        return factor

    def apply(self, value: float) -> float:
        """The calibrated value."""
        return value * self.factor + self.offset

    @property
    def is_identity(self) -> bool:
        """True when the calibration changes nothing."""
        return self.factor == 1.0 and self.offset == 0.0


class Measurement(BaseModel):
    """One value a sensor reports: its name, quantity, unit and how to read it."""

    model_config = STRICT

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    quantity: str
    unit: str | None = Field(
        default=None,
        description="unit the sensor reports in; default: the quantity's canonical unit",
    )
    scale: float = 1.0
    offset: float = 0.0
    valid: ValidRange | None = Field(
        default=None, description="the sensor's measuring range, in its own unit"
    )
    enum: dict[int, str] | None = Field(
        default=None, description="code -> meaning, for values that are codes (wind sector)"
    )
    description: str | None = None

    @field_validator("scale")
    @classmethod
    def _scale_not_zero(cls, scale: float) -> float:
        if scale == 0:
            raise ValueError("scale must not be 0")
        return scale

    @field_validator("enum")
    @classmethod
    def _enum_not_empty(cls, enum: dict[int, str] | None) -> dict[int, str] | None:
        if enum is not None and not enum:
            raise ValueError("an enum needs at least one code")
        return enum

    def label(self, value: float) -> str | None:
        """The meaning of ``value`` when this measurement is enumerated and the code is known."""
        if self.enum is None or value != int(value):
            return None
        return self.enum.get(int(value))
