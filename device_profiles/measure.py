"""From a decoded value to the value that is stored: unit, calibration, flag.

Layer: pure functions, shared by every decode path (Modbus registers, ASCII
lines) of the edge agent and, in reverse, by the simulators.

The order is fixed: the sensor's value in its own unit (registers x scale +
offset) -> the quantity's canonical unit (:mod:`device_profiles.units`) ->
the device's calibration -> the plausibility rule
(:mod:`device_profiles.plausibility`), which checks the sensor's measuring
range in the sensor's unit and the quantity's range in the canonical one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from device_profiles.errors import ProfileError
from device_profiles.measurement import Calibration, Measurement
from device_profiles.plausibility import Flag, judge_measurement
from device_profiles.registers import InvalidRawError
from device_profiles.schema import Quantity
from device_profiles.units import Affine, conversion

_SIGNIFICANT = 12  # digits kept after a unit conversion: hides 101.32000000000001


class SentinelError(ProfileError):
    """The sensor reported one of its "no valid measurement" values.

    ``value`` is what the report would mean in the sensor's unit, if known.
    """

    def __init__(self, name: str, text: str, value: float | None = None) -> None:
        super().__init__(f"{name}: sensor reports no valid measurement ({text})")
        self.name = name
        self.text = text
        self.value = value


@dataclass(frozen=True, slots=True)
class Measured:
    """The outcome for one value: what to store (None: nothing) and its flag.

    ``problem`` says what is wrong when the device should be reported degraded.
    """

    value: float | None
    flag: Flag
    problem: str | None = None


def unit_of(measurement: Measurement, quantity: Quantity) -> str:
    """The unit ``measurement`` reports in (the quantity's, unless the profile says another)."""
    return measurement.unit or quantity.unit


def to_canonical_map(measurement: Measurement, quantity: Quantity) -> Affine:
    """The affine map from the sensor's unit into the quantity's canonical unit.

    Raises:
        UnitError: the units are unknown or not convertible.
    """
    own = unit_of(measurement, quantity)
    if own == quantity.unit:
        return Affine(1.0)
    return conversion(own, quantity.unit, quantity.molar_mass_g_mol)


def to_canonical(measurement: Measurement, quantity: Quantity, value: float) -> float:
    """``value`` (sensor's unit) in the canonical unit."""
    mapping = to_canonical_map(measurement, quantity)
    return value if mapping.is_identity else _tidy(mapping(value))


def from_canonical(measurement: Measurement, quantity: Quantity, value: float) -> float:
    """``value`` (canonical unit) in the sensor's unit: what a simulator must serve."""
    mapping = to_canonical_map(measurement, quantity)
    return value if mapping.is_identity else mapping.inverse()(value)


def canonical_step(measurement: Measurement, quantity: Quantity, step: float) -> float:
    """A step of ``step`` in the sensor's unit, expressed in the canonical unit."""
    return abs(step * to_canonical_map(measurement, quantity).factor)


def measure(
    measurement: Measurement,
    quantity: Quantity,
    decoded: float | Exception,
    calibration: Calibration | None = None,
) -> Measured:
    """Turn one decoded value (or the error decoding it raised) into what is stored.

    A sentinel becomes a value flagged ``D`` when its meaning is known (the
    registers decode to a number), else nothing; any other error and a
    non-finite value give nothing, with a problem line for the device's health.
    """
    name = measurement.name
    sentinel = False
    problem: str | None = None
    if isinstance(decoded, InvalidRawError | SentinelError):
        shown = f"{decoded.raw:#x}" if isinstance(decoded, InvalidRawError) else repr(decoded.text)
        problem = f"{name}: probe reports no valid measurement ({shown})"
        if decoded.value is None:
            return Measured(None, Flag.FAULT, problem)
        own, sentinel = decoded.value, True
    elif isinstance(decoded, Exception):
        return Measured(None, Flag.COMMS_FAULT, f"{name}: {decoded}")
    else:
        own = decoded
    if not math.isfinite(own):
        return Measured(None, Flag.FAULT, f"{name}: value {own} is not a finite number")
    value = to_canonical(measurement, quantity, own)
    if calibration is not None and not calibration.is_identity:
        value = _tidy(calibration.apply(value))
    flag = judge_measurement(measurement, quantity, value, own, sentinel=sentinel)
    if flag is Flag.FAULT and problem is None:
        problem = f"{name}: code {own:g} is not one the profile knows"
    return Measured(value, flag, problem)


def _tidy(value: float) -> float:
    return float(f"{value:.{_SIGNIFICANT}g}")
