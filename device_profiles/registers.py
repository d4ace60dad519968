"""Registers <-> engineering values, shared by the edge poller and the simulators.

Layer: pure functions. No Modbus framing (that is pymodbus's), no I/O. Inputs
are never mutated. The poller decodes with :func:`decode_point`; the simulator
encodes with :func:`encode_point`; one round-trip test covers both.

Order conventions: ``word_order="big"`` puts the most significant register
first (ABCD); ``"little"`` swaps registers (CDAB). ``byte_order="little"``
swaps the two bytes inside each register (BADC).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from device_profiles.errors import RegisterError
from device_profiles.schema import DataType, Point


class InvalidRawError(RegisterError):
    """The sensor reported one of its "probe missing" raw values."""

    def __init__(self, point: Point, raw: int, value: float | None = None) -> None:
        super().__init__(f"point {point.name!r}: raw value {raw:#x} means no valid measurement")
        self.point = point
        self.raw = raw
        self.value = value  # what the registers would mean (for a reading flagged D)


def decode_point(point: Point, registers: Sequence[int]) -> float:
    """Turn the registers of ``point`` into its engineering value.

    Raises:
        RegisterError: wrong register count, or a register outside 0..65535.
        InvalidRawError: the raw value is one of ``point.invalid_raw``.
    """
    if len(registers) != point.register_count:
        raise RegisterError(
            f"point {point.name!r}: {point.data_type} needs {point.register_count} "
            f"registers, got {len(registers)}"
        )
    raw = struct.unpack(">" + point.data_type.struct_code, _to_bytes(point, registers))[0]
    if point.data_type is DataType.BOOL and raw > 1:
        raise RegisterError(f"point {point.name!r}: bit value {raw} is neither 0 nor 1")
    value = float(raw) * point.scale + point.offset
    if point.data_type.is_float:
        if not math.isfinite(value):
            raise RegisterError(f"point {point.name!r}: sensor sent {value}, not a measurement")
        return value
    # raw 0xFF9B * 0.1 is -10.100000000000001 in binary floating point; the sensor
    # meant -10.1, so keep exactly the decimals its scale and offset carry.
    value = round(value, _decimals(point.scale) + _decimals(point.offset))
    if raw in point.invalid_raw:
        raise InvalidRawError(point, int(raw), value)
    return value


def resolution(point: Point, value: float = 0.0) -> float:
    """The step between neighbouring values of ``point`` near ``value``, in its own unit.

    One raw step (``scale``) for integers; for floats, the spacing of IEEE-754
    values of that width near ``value``, times ``scale``.
    """
    if not point.data_type.is_float:
        return abs(point.scale)
    mantissa_bits = 23 if point.data_type is DataType.FLOAT32 else 52
    raw = (abs(value - point.offset)) / abs(point.scale)
    return abs(point.scale) * max(raw, 1e-30) * 2.0**-mantissa_bits


def encode_point(point: Point, value: float) -> tuple[int, ...]:
    """Turn an engineering value into the registers the sensor would hold.

    Integer types round to the nearest raw step.

    Raises:
        RegisterError: the value is not finite or does not fit the data type.
    """
    try:
        scaled = (float(value) - point.offset) / point.scale
    except OverflowError:  # an int beyond 1.8e308
        scaled = math.inf
    if not math.isfinite(scaled):  # also catches a finite value that overflows (1e308 / 0.1)
        raise RegisterError(f"point {point.name!r}: value {value!r} is not finite once scaled")
    if point.data_type.is_float:
        raw: float | int = scaled
    else:
        raw = round(scaled)
        low, high = point.data_type.raw_limits()
        if not low <= raw <= high:
            raise RegisterError(
                f"point {point.name!r}: value {value} is raw {raw}, outside {point.data_type}"
            )
    try:
        data = struct.pack(">" + point.data_type.struct_code, raw)
    except (struct.error, OverflowError) as exc:
        raise RegisterError(f"point {point.name!r}: value {value} does not fit: {exc}") from None
    return _to_registers(point, data)


@dataclass(frozen=True, slots=True)
class Block:
    """One read: ``count`` registers (bits for FC 1/2) from ``start``, covering ``points``."""

    start: int
    count: int
    points: tuple[Point, ...]
    function_code: int = 3


def plan_reads(points: Iterable[Point], max_registers: int = 125, max_gap: int = 0) -> list[Block]:
    """Group points into as few contiguous reads as the limits allow, one function code each.

    ``max_gap`` is how many unused registers a read may span to join two points;
    0 (the default) never reads a register no point names, since many sensors
    answer such reads with an exception. Blocks come ordered by function code,
    then address.
    """
    blocks: list[Block] = []
    current: list[Point] = []
    for point in sorted(points, key=lambda p: (p.function_code, p.address)):
        if current:
            start = current[0].address
            gap = point.address - current[-1].end
            same_table = point.function_code == current[0].function_code
            if same_table and gap <= max_gap and point.end - start <= max_registers:
                current.append(point)
                continue
            blocks.append(_block(current))
        current = [point]
    if current:
        blocks.append(_block(current))
    return blocks


def decode_block(block: Block, registers: Sequence[int]) -> dict[str, float | RegisterError]:
    """Decode every point of ``block``; a point that fails maps to its error."""
    if len(registers) != block.count:
        raise RegisterError(f"block at {block.start} needs {block.count} registers")
    values: dict[str, float | RegisterError] = {}
    for point in block.points:
        offset = point.address - block.start
        try:
            values[point.name] = decode_point(
                point, registers[offset : offset + point.register_count]
            )
        except RegisterError as exc:
            values[point.name] = exc
    return values


def _decimals(number: float) -> int:
    """Decimal places in the shortest repr of ``number`` (0.1 -> 1, 0.25 -> 2, 10.0 -> 0)."""
    text = repr(float(number))
    if "e" in text:
        mantissa, exponent = text.split("e")
        return max(0, _decimals(float(mantissa)) - int(exponent))
    return len(text.split(".")[1].rstrip("0"))


def _block(points: list[Point]) -> Block:
    start = points[0].address
    count = max(p.end for p in points) - start
    return Block(start, count, tuple(points), points[0].function_code)


def _to_bytes(point: Point, registers: Sequence[int]) -> bytes:
    words = list(registers)
    for word in words:
        if not isinstance(word, int) or not 0 <= word <= 0xFFFF:
            raise RegisterError(f"point {point.name!r}: register value {word} outside 0..65535")
    if point.word_order == "little":
        words.reverse()
    return b"".join(word.to_bytes(2, point.byte_order) for word in words)


def _to_registers(point: Point, data: bytes) -> tuple[int, ...]:
    words = [int.from_bytes(data[i : i + 2], point.byte_order) for i in range(0, len(data), 2)]
    if point.word_order == "little":
        words.reverse()
    return tuple(words)
