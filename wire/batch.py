"""Telemetry batch v1: the readings one gateway sends in one message.

Layer: sans-IO codec. ``encode_batch`` turns a :class:`Batch` into compact JSON
bytes; ``decode_batch`` turns untrusted bytes back into a :class:`Batch` or
raises :class:`wire.errors.MalformedError`. Neither function mutates its input.

JSON shape (keys are short because NB-IoT and MQTT budgets are counted in bytes)::

    {"v": 1, "gw": "gw-001", "seq": 42,
     "r": [["th1", "air_temperature", 1700000000000, 21.5, "N"], ...]}

Each reading is ``[device, quantity, time_ms (UTC epoch ms), value, quality]``.
``seq`` is the gateway's monotonic batch number; together with ``gw`` it makes a
batch idempotent at the cloud.

A reading a full outbox thinned (the mean of several readings of one series in
a window, see ``edge/outbox/thinning.py``) carries a sixth element, how many
raw readings it averages (an integer >= 2): ``[..., value, quality, mean_of]``.
Raw readings keep five elements, so a batch without means is byte for byte what
a cloud of before knew; such a cloud refuses only batches that carry means
(``malformed``: the gateway quarantines them, resendable after the upgrade).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wire.errors import MalformedError

VERSION = 1
MAX_READINGS = 5000
MAX_BATCH_BYTES = 512 * 1024
MAX_SEQ = 2**63 - 1
MAX_MEAN_OF = 2**31 - 1
# 2000-01-01 .. 2100-01-01: anything outside is a clock fault, not a reading.
MIN_TIME_MS = 946_684_800_000
MAX_TIME_MS = 4_102_444_800_000

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
# Ids that passed _ID already (exact str only): the check is a set lookup next time.
_VALID_IDS: set[str] = set()
_MAX_VALID_IDS = 100_000


class Quality(StrEnum):
    """Data flag of one reading, one-to-one with HJ 212-2017 data flags."""

    NORMAL = "N"
    STOPPED = "F"
    MAINTENANCE = "M"
    MANUAL = "S"
    FAULT = "D"
    CALIBRATION = "C"
    OVER_RANGE = "T"
    COMMS_FAULT = "B"


_QUALITIES = {quality.value: quality for quality in Quality}


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of one quantity from one device at one instant."""

    device: str
    quantity: str
    time_ms: int
    value: float
    quality: Quality = Quality.NORMAL
    mean_of: int = 1  # 1: a raw reading; n >= 2: the mean of n readings (thinned)

    def __post_init__(self) -> None:
        # a cloud worker builds hundreds of thousands of these a second: the common
        # case (ids seen before, a float, a time in range) takes the short paths
        if type(self.device) is not str or self.device not in _VALID_IDS:
            _check_id("device", self.device)
        if type(self.quantity) is not str or self.quantity not in _VALID_IDS:
            _check_id("quantity", self.quantity)
        if not MIN_TIME_MS <= self.time_ms <= MAX_TIME_MS:
            _check_time(self.time_ms)
        value = self.value
        if type(value) is not float or not math.isfinite(value):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MalformedError(f"value must be a number, got {type(value).__name__}")
            if not math.isfinite(_as_float(value)):
                raise MalformedError(f"value must be finite, got {value!r}")
        if not isinstance(self.quality, Quality):
            raise MalformedError(f"quality must be a Quality, got {self.quality!r}")
        if isinstance(self.mean_of, bool) or not isinstance(self.mean_of, int):
            raise MalformedError(f"mean_of must be an integer, got {self.mean_of!r}")
        if not 1 <= self.mean_of <= MAX_MEAN_OF:
            raise MalformedError(f"mean_of {self.mean_of} outside 1..2^31-1")

    @property
    def thinned(self) -> bool:
        """Whether this is a mean of several readings (a full outbox thinned them)."""
        return self.mean_of > 1


@dataclass(frozen=True, slots=True)
class Batch:
    """Readings from one gateway under one sequence number."""

    gateway_id: str
    seq: int
    readings: tuple[Reading, ...]

    def __post_init__(self) -> None:
        check_gateway_id(self.gateway_id)
        if isinstance(self.seq, bool) or not isinstance(self.seq, int):
            raise MalformedError("seq must be an integer")
        if not 0 <= self.seq <= MAX_SEQ:
            raise MalformedError(f"seq {self.seq} outside 0..2^63-1")
        if len(self.readings) > MAX_READINGS:
            raise MalformedError(f"{len(self.readings)} readings, at most {MAX_READINGS}")


def check_gateway_id(gateway_id: object) -> str:
    """Return ``gateway_id`` if it is a legal gateway id, else raise MalformedError."""
    return _check_id("gateway id", gateway_id)


def encode_batch(batch: Batch) -> bytes:
    """Serialise ``batch`` as compact UTF-8 JSON."""
    body = {
        "v": VERSION,
        "gw": batch.gateway_id,
        "seq": batch.seq,
        # r.quality is a StrEnum member, a str: JSON writes it as its value, "N"
        "r": [
            [r.device, r.quantity, r.time_ms, r.value, r.quality]
            if r.mean_of == 1
            else _encode_reading(r)
            for r in batch.readings
        ],
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _encode_reading(r: Reading) -> list[Any]:
    item: list[Any] = [r.device, r.quantity, r.time_ms, r.value, r.quality.value]
    if r.mean_of != 1:
        item.append(r.mean_of)
    return item


def decode_batch(data: bytes) -> Batch:
    """Parse untrusted bytes into a :class:`Batch`.

    Raises:
        MalformedError: the bytes are not a valid v1 batch; the message says why.
    """
    obj = parse_json_object(data, "batch")
    _expect_keys(obj, {"v", "gw", "seq", "r"}, "batch")
    if type(obj["v"]) is not int or obj["v"] != VERSION:
        raise MalformedError(f"unsupported batch version {obj['v']!r}")
    raw_readings = obj["r"]
    if not isinstance(raw_readings, list):
        raise MalformedError("'r' must be a list of readings")
    if len(raw_readings) > MAX_READINGS:
        raise MalformedError(f"{len(raw_readings)} readings, at most {MAX_READINGS}")
    return Batch(gateway_id=obj["gw"], seq=obj["seq"], readings=_decode_readings(raw_readings))


def _decode_readings(raw_readings: list[Any]) -> tuple[Reading, ...]:
    """Each reading of a batch; the common case skips the dataclass machinery.

    A reading whose fields all pass the short checks (ids already seen valid, an
    int time in range, a finite float, a known flag: what ``Reading`` itself
    checks) is built directly; any other goes through ``Reading`` and its error
    messages.
    """
    readings: list[Reading] = []
    append = readings.append
    valid_ids = _VALID_IDS
    qualities = _QUALITIES
    for index, item in enumerate(raw_readings):
        if type(item) is list and len(item) == 5:
            device, quantity, time_ms, value, flag = item
            if (
                type(device) is str
                and device in valid_ids
                and type(quantity) is str
                and quantity in valid_ids
                and type(time_ms) is int
                and MIN_TIME_MS <= time_ms <= MAX_TIME_MS
                and type(value) is float
                and math.isfinite(value)
                and type(flag) is str
                and flag in qualities
            ):
                append(_checked_reading(device, quantity, time_ms, value, qualities[flag]))
                continue
        append(_decode_reading(index, item))
    return tuple(readings)


_new = object.__new__
_SET_DEVICE, _SET_QUANTITY, _SET_TIME, _SET_VALUE, _SET_QUALITY, _SET_MEAN_OF = (
    Reading.__dict__[name].__set__
    for name in ("device", "quantity", "time_ms", "value", "quality", "mean_of")
)


def _checked_reading(
    device: str, quantity: str, time_ms: int, value: float, quality: Quality
) -> Reading:
    """A ``Reading`` of fields the caller has checked as ``Reading.__post_init__`` does."""
    reading: Reading = _new(Reading)
    _SET_DEVICE(reading, device)
    _SET_QUANTITY(reading, quantity)
    _SET_TIME(reading, time_ms)
    _SET_VALUE(reading, value)
    _SET_QUALITY(reading, quality)
    _SET_MEAN_OF(reading, 1)  # five elements: a raw reading
    return reading


def _decode_reading(index: int, item: Any) -> Reading:
    if not isinstance(item, list) or len(item) not in {5, 6}:
        raise MalformedError(
            f"reading {index}: expected [device, quantity, time_ms, value, flag(, mean_of)]"
        )
    device, quantity, time_ms, value, flag = item[:5]
    mean_of = item[5] if len(item) == 6 else 1
    if isinstance(time_ms, bool) or not isinstance(time_ms, int):
        raise MalformedError(f"reading {index}: time_ms must be an integer")
    if len(item) == 6 and type(mean_of) is int and mean_of < 2:
        raise MalformedError(f"reading {index}: mean_of must be at least 2 when present")
    quality = _QUALITIES.get(flag) if type(flag) is str else None
    if quality is None:
        raise MalformedError(f"reading {index}: unknown quality flag {flag!r}")
    try:
        return Reading(device, quantity, time_ms, value, quality, mean_of)
    except MalformedError as exc:
        raise MalformedError(f"reading {index}: {exc.message}") from None


def parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError(f"{what} must be bytes")
    if len(data) > MAX_BATCH_BYTES:
        raise MalformedError(f"{what} is {len(data)} bytes, at most {MAX_BATCH_BYTES}")
    try:
        obj = json.loads(
            bytes(data), parse_constant=_reject_constant, object_pairs_hook=_unique_keys
        )
    except MalformedError:
        raise
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, >4300-digit integers
        raise MalformedError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise MalformedError(f"{what} is nested too deeply") from None
    if not isinstance(obj, dict):
        raise MalformedError(f"{what} must be a JSON object")
    return obj


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads keeps the last of duplicate keys; a signer and a verifier that
    # disagree on which one counts could be made to read different batches.
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedError(f"duplicate key {key!r}")
            seen.add(key)
    return obj


def _reject_constant(name: str) -> None:
    raise MalformedError(f"{name} is not a valid value")


def _expect_keys(obj: dict[str, Any], keys: set[str], what: str) -> None:
    missing = keys - obj.keys()
    if missing:
        raise MalformedError(f"{what} lacks {', '.join(sorted(missing))}")
    extra = obj.keys() - keys
    if extra:
        raise MalformedError(f"{what} has unknown keys {', '.join(sorted(extra))}")


def _check_id(what: str, value: object) -> str:
    if type(value) is str and value in _VALID_IDS:
        return value
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise MalformedError(
            f"{what} {value!r} must be 1-64 characters of letters, digits, '_', '.', ':', '-'"
        )
    if type(value) is str:  # a str subclass could hash or compare otherwise
        if len(_VALID_IDS) >= _MAX_VALID_IDS:
            _VALID_IDS.clear()
        _VALID_IDS.add(value)
    return value


def _as_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:  # an int beyond 1.8e308
        raise MalformedError("value is too large for a float") from None


def _check_time(time_ms: int) -> None:
    if not MIN_TIME_MS <= time_ms <= MAX_TIME_MS:
        raise MalformedError(f"time_ms {time_ms} outside years 2000-2100")
