"""The sensor vocabulary and the library of sensor-model profiles.

Layer: data and pure functions. Imports nothing of Shanshui's; read by the edge
agent (decoding), the simulators (serving) and the cloud (units, metadata).
"""

from device_profiles.ascii_schema import AsciiField, AsciiSpec
from device_profiles.errors import ProfileError, RegisterError
from device_profiles.loader import builtin_profile, load_profile, load_quantities, profile_names
from device_profiles.measure import Measured, SentinelError, measure
from device_profiles.measurement import Calibration, Measurement, ValidRange
from device_profiles.plausibility import Flag, judge, reflag
from device_profiles.registers import (
    Block,
    InvalidRawError,
    decode_block,
    decode_point,
    encode_point,
    plan_reads,
    resolution,
)
from device_profiles.schema import DataType, Point, Profile, Quantity
from device_profiles.settings import Setting, Write
from device_profiles.units import UnitError

__all__ = [
    "AsciiField",
    "AsciiSpec",
    "Block",
    "Calibration",
    "DataType",
    "Flag",
    "InvalidRawError",
    "Measured",
    "Measurement",
    "Point",
    "Profile",
    "ProfileError",
    "Quantity",
    "RegisterError",
    "SentinelError",
    "Setting",
    "UnitError",
    "ValidRange",
    "Write",
    "builtin_profile",
    "decode_block",
    "decode_point",
    "encode_point",
    "judge",
    "load_profile",
    "load_quantities",
    "measure",
    "plan_reads",
    "profile_names",
    "reflag",
    "resolution",
]
