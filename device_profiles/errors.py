"""Errors of the device-profile library.

    ProfileError (ValueError)       a profile or the vocabulary cannot be used
    └── RegisterError               registers that cannot be decoded, or a value
                                    that cannot be encoded, for a point

Messages name the file, the point and the key, for example
``jxct_th_rs485.yaml: points[1] 'temperature': scale must not be 0``.
"""

from __future__ import annotations


class ProfileError(ValueError):
    """A device profile or the quantity vocabulary is invalid."""


class RegisterError(ProfileError):
    """Registers that cannot be decoded, or a value that does not fit, for one point."""
