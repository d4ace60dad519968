"""Errors of the standards calculations.

Layer: plain exception classes; no I/O. Part of the cloud's one error family::

    CloudError
    └── StandardsError                  input a standard cannot be applied to
        ├── UnknownCodeError            a quantity code no standard here knows
        ├── InvalidValueError           a value that is not a finite number in range
        └── MissingValueError           a rule of the standard needs a value not given

The messages are written for an analyst at a terminal: they name the code and the
value at fault, never a Python type.
"""

from __future__ import annotations

from cloud.errors import CloudError


class StandardsError(CloudError):
    """Input that a standard cannot be applied to."""


class UnknownCodeError(StandardsError):
    """A quantity code that none of the known codes, aliases or HJ 212 codes matches."""

    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(f"unknown quantity {code!r}; known here: {', '.join(known)}")
        self.code = code
        self.known = known


class InvalidValueError(StandardsError):
    """A value that is not a finite number, or lies outside what the standard admits."""

    def __init__(self, code: str, value: object, reason: str) -> None:
        super().__init__(f"{code}: {value!r} {reason}")
        self.code = code
        self.value = value


class MissingValueError(StandardsError):
    """A rule of the standard needs a value that was not given."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code} is needed: {reason}")
        self.code = code
