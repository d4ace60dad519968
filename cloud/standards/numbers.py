"""Checked, exact numbers for the standards' comparisons.

Layer: pure; no I/O. Limits and breakpoints are decimal numbers in the
standards, so values are compared as the decimals they were written as: 2.2 mg/L
counts as 11/5, not as its binary neighbour 2.2000000000000002.
"""

from __future__ import annotations

import math
from fractions import Fraction

from cloud.standards.errors import InvalidValueError


def checked(code: str, value: float, *, negative_ok: bool = False) -> float:
    """``value`` as a float, once it is known to be a finite number (and not negative).

    Raises:
        InvalidValueError: not a number, not finite, or negative (unless allowed).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValueError(code, value, "is not a number")
    if not math.isfinite(value):
        raise InvalidValueError(code, value, "is not a finite number")
    if value < 0 and not negative_ok:
        raise InvalidValueError(code, value, "is negative")
    return float(value)


def exact(code: str, value: float, *, negative_ok: bool = False) -> Fraction:
    """``value`` as an exact fraction of its shortest decimal form.

    Raises:
        InvalidValueError: not a number, not finite, or negative (unless allowed).
    """
    return Fraction(repr(checked(code, value, negative_ok=negative_ok)))
