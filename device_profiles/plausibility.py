"""The one plausibility rule: which quality flag a value deserves.

Layer: pure functions. Used by the edge agent (when it decodes a sensor's
value) and by the cloud (when it accepts a batch), so the two never disagree.

Flags map one-to-one onto HJ 212-2017 data flags; :class:`Flag` carries the
same letters as ``wire.Quality`` (``Quality(flag)`` converts), because this
package imports nothing of Shanshui's.

The rule, in order:

1. a sentinel (the sensor's own "probe broken" value) -> ``D`` (fault);
2. an enumerated value whose code the profile does not know -> ``D``;
3. outside the sensor's measuring range (the point's ``valid``) -> ``T``;
4. outside the quantity's physically plausible range -> ``T``;
5. otherwise ``N``.

The cloud sees no point, only the quantity: :func:`reflag` applies rule 4 to
readings a gateway flagged ``N``, and leaves every other flag as the gateway set it.
"""

from __future__ import annotations

from enum import StrEnum

from device_profiles.measurement import Measurement, ValidRange
from device_profiles.schema import Quantity


class Flag(StrEnum):
    """HJ 212-2017 data flag of one value."""

    NORMAL = "N"
    STOPPED = "F"
    MAINTENANCE = "M"
    MANUAL = "S"
    FAULT = "D"
    CALIBRATION = "C"
    OVER_RANGE = "T"
    COMMS_FAULT = "B"


def in_quantity_range(quantity: Quantity, value: float) -> bool:
    """True when ``value`` (canonical unit) is physically plausible for ``quantity``."""
    return quantity.min <= value <= quantity.max


def judge(
    quantity: Quantity,
    value: float,
    *,
    raw_value: float | None = None,
    valid: ValidRange | None = None,
    enum: dict[int, str] | None = None,
    sentinel: bool = False,
) -> Flag:
    """The flag of one value.

    Args:
        quantity: the vocabulary entry; its range is checked against ``value``.
        value: the value in the quantity's canonical unit (after calibration).
        raw_value: the value in the sensor's own unit, before conversion and
            calibration, checked against ``valid`` and ``enum`` (default: ``value``).
        valid: the sensor's measuring range, in its own unit.
        enum: the codes an enumerated value may take.
        sentinel: the sensor reported its "no valid measurement" value.
    """
    own = value if raw_value is None else raw_value
    if sentinel:
        return Flag.FAULT
    if enum is not None and (own != int(own) or int(own) not in enum):
        return Flag.FAULT
    if valid is not None and own not in valid:
        return Flag.OVER_RANGE
    if not in_quantity_range(quantity, value):
        return Flag.OVER_RANGE
    return Flag.NORMAL


def judge_measurement(
    measurement: Measurement,
    quantity: Quantity,
    value: float,
    raw_value: float,
    *,
    sentinel: bool = False,
) -> Flag:
    """:func:`judge` with the measuring range and codes a profile gives ``measurement``."""
    return judge(
        quantity,
        value,
        raw_value=raw_value,
        valid=measurement.valid,
        enum=measurement.enum,
        sentinel=sentinel,
    )


def reflag(flag: str, value: float, quantity: Quantity | None) -> str:
    """The cloud's check: a normal value outside its quantity's range becomes over range.

    Any other flag, and a quantity the vocabulary does not know, are left alone.
    Returns ``flag`` itself when nothing changes.
    """
    if quantity is None or flag != Flag.NORMAL or in_quantity_range(quantity, value):
        return flag
    return Flag.OVER_RANGE.value
