"""NB-IoT compact status frame v1: a gateway's presence and health in one small datagram.

Layer: sans-IO codec, beside :mod:`wire.compact` (same header, same 8-byte tag,
same channel table). Over MQTT a gateway publishes its health as a JSON
``up/status`` (see :mod:`edge.status`); an NB-IoT gateway cannot afford that body
on every report, so it sends this frame through the same path as its batches
(UDP, CoAP, the module's MQTT, an operator platform), and the cloud records the
same presence and report from it.

Devices are those of the channel table (in their order of first appearance),
so they are named by position; a device's error text does not travel (the
state does). Layout (varint = unsigned LEB128)::

    u8      0x11 (status frame v1)
    u8+     gateway id length, then its ASCII bytes
    2       channel-table digest (as in a batch frame)
    varint  time, ms since 2000-01-01T00:00:00Z
    u8      flags: 1 online, 2 clock synchronisation known, 4 clock synchronised,
            8 signal follows
    ...     device states, 2 bits each, first device in the low bits of the first
            byte (0 unknown, 1 ok, 2 degraded), ceil(devices / 4) bytes
    varint  pending_readings, unacked_batches, quarantined_batches, resent_batches,
            thinned_readings, uptime_s, forged_acks, oldest_unsent_age_s + 1 (0: none)
    3       with flag 8: csq (0-99), -rssi_dbm, -rsrp_dbm; 255: not measured
    8       tag: HMAC-SHA256(gateway secret, every byte before it), first 8 bytes

A soil station's status (three devices, a signal) takes 41 bytes (bench/b_compact.py). A replayed
frame can only restate an older report of the same gateway; nothing is stored
from it but presence.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wire.batch import check_gateway_id
from wire.compact import (
    DIGEST_BYTES,
    EPOCH_MS,
    MAX_FRAME_BYTES,
    STATUS_VERSION,
    TAG_BYTES,
    Channel,
    _Reader,
    _tag,
    _varint,
    frame_gateway,
    table_digest,
)
from wire.errors import BadSignatureError, CompactError

DEVICE_STATES = ("unknown", "ok", "degraded")
COUNTERS = (
    "pending_readings",
    "unacked_batches",
    "quarantined_batches",
    "resent_batches",
    "thinned_readings",
    "uptime_s",
    "forged_acks",
)
SIGNAL = {"csq": (0, 99), "rssi_dbm": (-254, 0), "rsrp_dbm": (-254, 0)}
_ONLINE, _SYNC_KNOWN, _SYNCED, _HAS_SIGNAL = 1, 2, 4, 8
_ABSENT = 255


@dataclass(frozen=True, slots=True)
class CompactStatus:
    """What a status frame says. ``devices`` maps device ids of the table to their state;
    ``counters`` the :data:`COUNTERS` (missing ones travel as 0)."""

    gateway_id: str
    time_ms: int
    online: bool = True
    devices: Mapping[str, str] = field(default_factory=dict)
    counters: Mapping[str, int] = field(default_factory=dict)
    oldest_unsent_age_s: int | None = None
    clock_synced: bool | None = None
    signal: Mapping[str, int] = field(default_factory=dict)


def table_devices(channels: Sequence[Channel]) -> tuple[str, ...]:
    """The devices of a channel table, in their order of first appearance."""
    return tuple(dict.fromkeys(c.device for c in channels))


def encode_compact_status(
    status: CompactStatus, channels: Sequence[Channel], secret: bytes
) -> bytes:
    """Encode and sign ``status``; devices not in ``channels`` are left out.

    Raises:
        CompactError: a time before 2000, an unknown device state, a negative
            counter, a signal out of its range, or a frame over ``MAX_FRAME_BYTES``.
    """
    gateway = check_gateway_id(status.gateway_id).encode("ascii")
    if status.time_ms < EPOCH_MS:
        raise CompactError("status time is before 2000-01-01")
    out = bytearray([STATUS_VERSION, len(gateway)]) + gateway + table_digest(channels)
    out += _varint(status.time_ms - EPOCH_MS)
    flags = _ONLINE if status.online else 0
    if status.clock_synced is not None:
        flags |= _SYNC_KNOWN | (_SYNCED if status.clock_synced else 0)
    flags |= _HAS_SIGNAL if status.signal else 0
    out.append(flags)
    out += _device_bits(status.devices, table_devices(channels))
    for name in COUNTERS:
        out += _varint(_count(name, status.counters.get(name, 0)))
    age = status.oldest_unsent_age_s
    out += _varint(0 if age is None else _count("oldest_unsent_age_s", age) + 1)
    if status.signal:
        out += _signal_bytes(status.signal)
    out += _tag(secret, bytes(out))
    if len(out) > MAX_FRAME_BYTES:
        raise CompactError(f"status frame is {len(out)} bytes, at most {MAX_FRAME_BYTES}")
    return bytes(out)


def is_status_frame(data: bytes) -> bool:
    """Whether ``data`` claims to be a status frame (its first byte; nothing verified)."""
    return bool(data) and data[0] == STATUS_VERSION


def decode_compact_status(data: bytes, channels: Sequence[Channel], secret: bytes) -> CompactStatus:
    """Verify the tag, then decode the status.

    Raises:
        BadSignatureError: the tag does not verify.
        CompactError: malformed, not a status frame, or made with another channel table.
    """
    gateway = frame_gateway(data)
    data = bytes(data)
    if data[0] != STATUS_VERSION:
        raise CompactError(f"not a status frame (first byte {data[0]:#x})")
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    if not hmac.compare_digest(_tag(secret, body), tag):
        raise BadSignatureError(f"status frame tag does not verify for gateway {gateway!r}")
    reader = _Reader(body, 2 + len(gateway))
    if reader.take(DIGEST_BYTES) != table_digest(channels):
        raise CompactError("status frame was made with another channel table than the cloud's")
    time_ms = EPOCH_MS + reader.varint("time")
    flags = reader.take(1)[0]
    if flags & ~(_ONLINE | _SYNC_KNOWN | _SYNCED | _HAS_SIGNAL):
        raise CompactError(f"status frame has unknown flags {flags:#x}")
    devices = _read_devices(reader, table_devices(channels))
    counters = {name: reader.varint(name) for name in COUNTERS}
    age = reader.varint("oldest unsent age")
    signal = _read_signal(reader) if flags & _HAS_SIGNAL else {}
    if reader.position != len(body):
        raise CompactError(f"{len(body) - reader.position} bytes left over after the status")
    return CompactStatus(
        gateway,
        time_ms,
        online=bool(flags & _ONLINE),
        devices=devices,
        counters=counters,
        oldest_unsent_age_s=None if age == 0 else age - 1,
        clock_synced=bool(flags & _SYNCED) if flags & _SYNC_KNOWN else None,
        signal=signal,
    )


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CompactError(f"{name} must be a non-negative integer")
    return value


def _device_bits(devices: Mapping[str, str], order: Sequence[str]) -> bytes:
    out = bytearray((len(order) + 3) // 4)
    for position, device in enumerate(order):
        state = devices.get(device, "unknown")
        if state not in DEVICE_STATES:
            raise CompactError(f"device {device!r}: unknown state {state!r}")
        out[position // 4] |= DEVICE_STATES.index(state) << (2 * (position % 4))
    return bytes(out)


def _read_devices(reader: _Reader, order: Sequence[str]) -> dict[str, str]:
    packed = reader.take((len(order) + 3) // 4)
    devices = {}
    for position, device in enumerate(order):
        code = packed[position // 4] >> (2 * (position % 4)) & 3
        if code >= len(DEVICE_STATES):
            raise CompactError(f"device {device!r}: unknown state code {code}")
        devices[device] = DEVICE_STATES[code]
    if len(order) % 4 and packed[-1] >> (2 * (len(order) % 4)):
        raise CompactError("status frame has device bits beyond the table")
    return devices


def _signal_bytes(signal: Mapping[str, int]) -> bytes:
    out = bytearray()
    for name, (low, high) in SIGNAL.items():
        value = signal.get(name)
        if value is None:
            out.append(_ABSENT)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CompactError(f"signal {name} must be an integer in {low}..{high}")
        out.append(value if name == "csq" else -value)
    return bytes(out)


def _read_signal(reader: _Reader) -> dict[str, int]:
    signal = {}
    for (name, (low, high)), raw in zip(SIGNAL.items(), reader.take(len(SIGNAL)), strict=True):
        if raw == _ABSENT:
            continue
        value = raw if name == "csq" else -raw
        if not low <= value <= high:
            raise CompactError(f"signal {name} {value} is out of {low}..{high}")
        signal[name] = value
    return signal
