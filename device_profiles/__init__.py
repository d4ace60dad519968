"""The sensor vocabulary and the library of sensor-model profiles.

Layer: data and pure functions. Imports nothing of Shanshui's; read by the edge
agent (decoding), the simulators (serving) and the cloud (units, metadata).
"""

from device_profiles.errors import ProfileError, RegisterError
from device_profiles.loader import builtin_profile, load_profile, load_quantities, profile_names
from device_profiles.registers import (
    Block,
    InvalidRawError,
    decode_block,
    decode_point,
    encode_point,
    plan_reads,
)
from device_profiles.schema import DataType, Point, Profile, Quantity

__all__ = [
    "Block",
    "DataType",
    "InvalidRawError",
    "Point",
    "Profile",
    "ProfileError",
    "Quantity",
    "RegisterError",
    "builtin_profile",
    "decode_block",
    "decode_point",
    "encode_point",
    "load_profile",
    "load_quantities",
    "plan_reads",
    "profile_names",
]
