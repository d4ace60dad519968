"""Hypothesis strategies for points and register values."""

from __future__ import annotations

from hypothesis import strategies as st

from device_profiles import DataType, Point

ORDERS = st.sampled_from(["big", "little"])
# Scales seen on real sensors (x0.1, x0.01, ...) plus a few awkward ones.
SCALES = st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0, 0.5, 0.25, 2.5, 0.3, -0.1, 1e-6, 1000.0])
OFFSETS = st.sampled_from([0.0, -40.0, 273.15, -273.15, 0.5, 1e4])
# word types; bool (coils, discrete inputs) has tests of its own
REGISTER_TYPES = [t for t in DataType if t is not DataType.BOOL]
ALL_TYPES = st.sampled_from(REGISTER_TYPES)
INT_TYPES = [t for t in REGISTER_TYPES if not t.is_float]
FLOAT_TYPES = [t for t in DataType if t.is_float]


@st.composite
def points(
    draw: st.DrawFn,
    data_types: st.SearchStrategy[DataType] = ALL_TYPES,
    scales: st.SearchStrategy[float] = SCALES,
    offsets: st.SearchStrategy[float] = OFFSETS,
) -> Point:
    """A point of any data type, order, scale and offset, at address 0."""
    data_type = draw(data_types)
    return Point(
        name="p",
        quantity="q",
        address=0,
        data_type=data_type,
        scale=draw(scales),
        offset=draw(offsets),
        word_order=draw(ORDERS),
        byte_order=draw(ORDERS),
    )


def register_lists(count: int) -> st.SearchStrategy[list[int]]:
    """Lists of ``count`` 16-bit register values."""
    return st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count)
