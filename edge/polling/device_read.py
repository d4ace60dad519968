"""Read one Modbus device with its profile, and turn the values into readings.

Layer: the device boundary of the poller. :func:`read_points` moves registers
through a :class:`~edge.polling.modbus_master.ModbusMaster` (any bus type) and
decodes them with ``device_profiles``; every bus error becomes
:class:`edge.errors.DeviceReadError` here, classified by its exception type into
``kind`` (timeout, crc, garbage, exception, link). A request that got no usable
answer is repeated up to ``retries`` times; an exception response is an answer
and is not. :func:`to_readings` is pure. Nothing here schedules, logs or stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from device_profiles import (
    Block,
    Calibration,
    Profile,
    Quantity,
    RegisterError,
    decode_block,
    load_quantities,
    measure,
    plan_reads,
)
from edge.errors import (
    BadFrameError,
    BusError,
    DeviceReadError,
    ExceptionResponseError,
    LinkError,
    NoAnswerError,
)
from edge.polling.modbus_frames import TABLE_NAMES
from edge.polling.modbus_master import ModbusMaster
from wire import MalformedError, Quality, Reading

PointValues = dict[str, float | RegisterError]


@dataclass(frozen=True, slots=True)
class Conversion:
    """Readings made from one device read, and the problems that kept points out."""

    readings: tuple[Reading, ...]
    problems: tuple[str, ...]


async def read_points(
    master: ModbusMaster,
    profile: Profile,
    slave: int,
    device_id: str,
    *,
    timeout_s: float,
    retries: int = 0,
) -> PointValues:
    """Read every point of ``profile`` from ``slave``, in as few requests as allowed.

    A point whose registers cannot be decoded maps to its ``RegisterError``
    (``InvalidRawError`` for a probe-missing value); the others to their value.

    Raises:
        DeviceReadError: no link, no usable answer after the retries, or a Modbus
            exception response; ``kind`` says which.
    """
    values: PointValues = {}
    modbus = profile.modbus
    blocks = plan_reads(profile.points, modbus.max_registers_per_read, modbus.max_gap)
    for block in blocks:
        registers = await _read_block(
            master, profile, slave, block, device_id, timeout_s=timeout_s, retries=retries
        )
        try:
            values.update(decode_block(block, registers))
        except RegisterError as exc:
            raise DeviceReadError(device_id, f"short answer: {exc}") from exc
    return values


def to_readings(
    device_id: str,
    profile: Profile,
    values: Mapping[str, float | Exception],
    time_ms: int,
    quantities: Mapping[str, Quantity] | None = None,
    *,
    calibration: Calibration | None = None,
) -> Conversion:
    """Make one reading per decodable point, in its quantity's unit, flagged by the one rule.

    :func:`device_profiles.measure` converts the sensor's unit, applies the
    device's calibration and flags the value (``D`` for a sentinel, ``T`` out
    of range). A point that did not decode or decoded to NaN/infinity yields no
    reading, only a problem line; a sentinel yields a reading flagged ``D`` and
    a problem line.
    """
    vocabulary = load_quantities() if quantities is None else quantities
    readings: list[Reading] = []
    problems: list[str] = []
    for point in profile.measurements:
        value = values.get(point.name)
        if value is None:
            continue
        measured = measure(point, vocabulary[point.quantity], value, calibration)
        if measured.problem is not None:
            problems.append(measured.problem)
        if measured.value is None:
            continue
        try:
            reading = Reading(
                device_id, point.quantity, time_ms, measured.value, Quality(measured.flag)
            )
        except MalformedError as exc:
            # wire refuses what it cannot carry, above all a time before 2000: what the
            # clock of a gateway without RTC says until NTP sets it. Skip the point (the
            # device shows degraded) instead of letting the error kill the bus's task.
            problems.append(f"{point.name}: not sent: {exc}")
            continue
        readings.append(reading)
    return Conversion(tuple(readings), tuple(problems))


async def _read_block(
    master: ModbusMaster,
    profile: Profile,
    slave: int,
    block: Block,
    device_id: str,
    *,
    timeout_s: float,
    retries: int,
) -> list[int]:
    start, count = block.start, block.count
    where = f"{TABLE_NAMES[block.function_code]} {start}..{start + count - 1}"
    for attempt in range(retries + 1):
        try:
            return await master.read(slave, block.function_code, start, count, timeout_s)
        except (NoAnswerError, BadFrameError) as exc:
            if attempt < retries:
                continue
            raise DeviceReadError(device_id, _describe(exc), kind=failure_kind(exc)) from exc
        except ExceptionResponseError as exc:
            raise DeviceReadError(device_id, f"{where}: {exc}", exception_code=exc.code) from exc
        except LinkError as exc:
            raise DeviceReadError(device_id, str(exc), kind="link") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def failure_kind(exc: BusError) -> str:
    """The per-device counter a bus error adds to, chosen by its type."""
    if isinstance(exc, BadFrameError):
        return exc.kind
    if isinstance(exc, ExceptionResponseError):
        return "exception"
    if isinstance(exc, LinkError):
        return "link"
    return "timeout"


def _describe(exc: BusError) -> str:
    if isinstance(exc, NoAnswerError):
        return "no response (timeout)"
    if isinstance(exc, BadFrameError) and exc.kind == "crc":
        return "reply failed its CRC check"
    return f"unusable reply: {exc}"
