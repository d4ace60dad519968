"""Read one Modbus device with its profile, and turn the values into readings.

Layer: the pymodbus boundary of the poller. :func:`read_points` moves registers
with pymodbus and decodes them with ``device_profiles``; every pymodbus error
becomes :class:`edge.errors.DeviceReadError` here. :func:`to_readings` is pure.
Nothing here schedules, retries, logs or stores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

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
from edge.errors import DeviceReadError
from wire import MalformedError, Quality, Reading

# Modbus exception codes, for messages a technician can act on.
EXCEPTION_NAMES = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "device failure",
    5: "acknowledge",
    6: "device busy",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}

PointValues = dict[str, float | RegisterError]


@dataclass(frozen=True, slots=True)
class Conversion:
    """Readings made from one device read, and the problems that kept points out."""

    readings: tuple[Reading, ...]
    problems: tuple[str, ...]


async def read_points(
    client: AsyncModbusTcpClient, profile: Profile, slave: int, device_id: str
) -> PointValues:
    """Read every point of ``profile`` from ``slave``, in as few requests as allowed.

    A point whose registers cannot be decoded maps to its ``RegisterError``
    (``InvalidRawError`` for a probe-missing value); the others to their value.

    Raises:
        DeviceReadError: no connection, a timeout, or a Modbus exception response.
    """
    values: PointValues = {}
    modbus = profile.modbus
    blocks = plan_reads(profile.points, modbus.max_registers_per_read, modbus.max_gap)
    for block in blocks:
        registers = await _read_block(client, slave, block, device_id)
        try:
            values.update(decode_block(block, registers))
        except RegisterError as exc:
            raise DeviceReadError(device_id, f"short answer: {exc}") from exc
    return values


def to_readings(
    device_id: str,
    profile: Profile,
    values: Mapping[str, float | RegisterError],
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


_TABLES = {1: "coils", 2: "discrete inputs", 3: "holding registers", 4: "input registers"}


async def _read_block(
    client: AsyncModbusTcpClient, slave: int, block: Block, device_id: str
) -> list[int]:
    """The registers of ``block`` (0/1 per bit for coils and discrete inputs)."""
    start, count, code = block.start, block.count, block.function_code
    read = {
        1: client.read_coils,
        2: client.read_discrete_inputs,
        3: client.read_holding_registers,
        4: client.read_input_registers,
    }[code]
    try:
        response = await read(start, count=count, device_id=slave)
    except ModbusException as exc:
        raise DeviceReadError(device_id, _describe_failure(exc)) from exc
    table = _TABLES[code]
    if response.isError():
        exception = response.exception_code
        name = EXCEPTION_NAMES.get(exception, "unknown exception")
        raise DeviceReadError(
            device_id,
            f"{table} {start}..{start + count - 1}: Modbus exception {exception:#04x} ({name})",
            exception_code=exception,
        )
    # pymodbus pads bits to whole bytes
    words = [int(bit) for bit in response.bits[:count]] if code in (1, 2) else response.registers
    if len(words) != count:
        raise DeviceReadError(device_id, f"asked for {count} {table} at {start}, got {len(words)}")
    return list(words)


def _describe_failure(exc: ModbusException) -> str:
    text = str(exc)
    if "No response received" in text:
        return "no response (timeout)"
    if "Not connected" in text or "connect" in text.lower():
        return "not connected"
    return text
