"""Decide whether one MQTT telemetry message is accepted, and if not, why.

Layer: pure functions. No I/O, no database, no MQTT client: the pipeline looks
the gateway's secret up between :func:`open_message` and :func:`verify_message`
and hands the result in. Each rejection carries a short stable ``reason`` that
becomes the ``dead_letters.reason``:

* ``topic_mismatch``: the topic is not ``{root}/{gw}/up/telemetry``, or names a
  different gateway than the envelope;
* ``unknown_gateway``: no secret for the gateway (not registered, or disabled);
* ``malformed`` / ``unsigned`` / ``bad_signature``: :class:`wire.WireError` reasons;
* ``unsupported_topic``: an ``up/`` channel this cloud does not handle yet;
* ``malformed`` also for a verified batch with two readings of one series at one
  time (which would be stored once but counted twice);
* ``future_time``: a reading stamped more than a margin (default 10 minutes)
  after the cloud received the batch: a gateway clock gone wrong.

Workers subscribe to every ``up/`` channel, as the design's contract says.
Besides telemetry they read ``up/status``: the gateway's presence, ``{"state":
"online"}`` on connect and the broker-published last will ``{"state":
"offline"}``. The gateway signs it in place (``wire.signing.sign_object``; the
last will is signed at connect, replayable but only ever saying offline); the
pipeline verifies it before :func:`parse_status` sees it and ignores, counting
them, unsigned or forged ones. It is kept only for registered gateways and never
used to accept data.

Accepted batches get their plausibility check here too: a reading flagged
normal (``N``) whose value lies outside its quantity's range in the vocabulary
is re-flagged over range (``T``), as ``quantities.yaml`` prescribes.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter

from cloud.storage.registry import GatewayKeys
from device_profiles import Quantity, reflag
from wire import (
    Batch,
    MalformedError,
    Quality,
    Reading,
    SignedBatch,
    WireError,
    check_gateway_id,
    open_envelope,
    verify_envelope,
)

TELEMETRY_SUFFIX = ("up", "telemetry")
TELEMETRY = "telemetry"
STATUS = "status"
PRESENCE_STATES = frozenset({"online", "offline"})
DEVICE_STATES = frozenset({"ok", "degraded", "unknown"})
MAX_STATUS_BYTES = 16 * 1024
MAX_DEVICE_ERROR_CHARS = 200
TOPIC_MISMATCH = "topic_mismatch"
UNKNOWN_GATEWAY = "unknown_gateway"
REVOKED = "revoked"
UNSUPPORTED_TOPIC = "unsupported_topic"
MALFORMED = "malformed"
FUTURE_TIME = "future_time"
DEFAULT_FUTURE_MARGIN_MS = 10 * 60 * 1000
_SERIES_TIME = attrgetter("device", "quantity", "time_ms")
_TIME = attrgetter("time_ms")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message to dead-letter.

    Attributes:
        reason: stable code for ``dead_letters.reason``.
        detail: human explanation (never contains secrets).
        gateway_id: the gateway the message claims to come from, if any (unverified).
    """

    reason: str
    detail: str
    gateway_id: str | None


@dataclass(frozen=True, slots=True)
class Opened:
    """An envelope whose topic and gateway agree; its signature is not checked yet."""

    signed: SignedBatch

    @property
    def gateway_id(self) -> str:
        """Gateway named by both the topic and the envelope."""
        return self.signed.gateway_id


def ingest_subscription(topic_root: str, group: str) -> str:
    """The shared subscription ingest workers of ``group`` use: every ``up/`` channel."""
    return f"$share/{group}/{topic_root}/+/up/#"


@dataclass(frozen=True, slots=True)
class Channel:
    """Which gateway an ``up/`` message claims to come from, and on which channel."""

    gateway_id: str
    name: str


def channel_of(topic_root: str, topic: str) -> Channel | None:
    """``{topic_root}/{gw}/up/{name}`` as a :class:`Channel`, or None for any other topic."""
    prefix = topic_root + "/"
    if not topic.startswith(prefix):
        return None
    levels = topic[len(prefix) :].split("/")
    if len(levels) != 3 or levels[1] != "up" or not levels[0] or not levels[2]:
        return None
    return Channel(levels[0], levels[2])


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What a gateway reports about one of its devices."""

    state: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Status:
    """An ``up/status`` message: presence, and (when online) each device's health."""

    state: str
    devices: Mapping[str, DeviceStatus] = dataclasses.field(default_factory=dict)
    report: Mapping[str, int | bool | str] = dataclasses.field(default_factory=dict)


#: Counters a gateway reports under ``outbox`` on ``up/status`` (edge/status.py).
OUTBOX_COUNTERS = (
    "pending_readings",
    "unacked_batches",
    "quarantined_batches",
    "resent_batches",
    "thinned_readings",
    "oldest_unsent_age_s",
)
#: ``signal`` of an NB-IoT gateway: key -> (report key, smallest, largest accepted)
SIGNAL_FIELDS = {
    "csq": ("signal_csq", 0, 99),
    "rssi_dbm": ("signal_rssi_dbm", -150, 0),
    "rsrp_dbm": ("signal_rsrp_dbm", -160, 0),
}
MAX_CONFIG_VERSION_CHARS = 64


def parse_status(channel: Channel, payload: bytes) -> Status | Rejected:
    """Parse an ``up/status`` message.

    ``{"state": "online"|"offline", "devices": {"th1": {"state": "ok"|"degraded"|
    "unknown", "error": "..."}}, ...}``; ``devices`` is optional. The informative
    ``outbox`` counters (with ``oldest_unsent_age_s``), ``uptime_s``, ``forged_acks``
    (non-negative integers), ``clock_synced`` (boolean), ``config_version`` (a short
    printable string) and the ``signal`` of an NB-IoT module (``csq``, ``rssi_dbm``,
    ``rsrp_dbm``: integers in their ranges) go to :attr:`Status.report` when well
    typed and are otherwise left out; ``gw`` and ``time_ms`` are ignored.
    """
    try:
        if len(payload) > MAX_STATUS_BYTES:
            raise ValueError(f"{len(payload)} bytes, at most {MAX_STATUS_BYTES}")
        body = json.loads(payload)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        return Rejected(MALFORMED, f"status message: {exc}", channel.gateway_id)
    return status_of(channel, body)


def status_of(channel: Channel, body: object) -> Status | Rejected:
    """A status body already parsed (JSON, or a compact status frame's fields as in JSON);
    see :func:`parse_status`."""
    try:
        state = body.get("state") if isinstance(body, dict) else None
        if not isinstance(body, dict) or state not in PRESENCE_STATES:
            raise ValueError(f"'state' must be one of {', '.join(sorted(PRESENCE_STATES))}")
        devices = _device_statuses(body.get("devices", {}))
    except ValueError as exc:
        return Rejected(MALFORMED, f"status message: {exc}", channel.gateway_id)
    return Status(str(state), devices, _status_report(body))


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53:
        return value
    return None


def _status_report(body: dict[str, object]) -> dict[str, int | bool | str]:
    """The well-typed informative fields of a status body, flattened."""
    report: dict[str, int | bool | str] = {}
    outbox = body.get("outbox")
    if isinstance(outbox, dict):
        for key in OUTBOX_COUNTERS:
            count = _count(outbox.get(key))
            if count is not None:
                report[key] = count
    for key in ("uptime_s", "forged_acks"):
        count = _count(body.get(key))
        if count is not None:
            report[key] = count
    synced = body.get("clock_synced")
    if isinstance(synced, bool):
        report["clock_synced"] = synced
    version = body.get("config_version")
    if (
        isinstance(version, str)
        and 0 < len(version) <= MAX_CONFIG_VERSION_CHARS
        and version.isprintable()
    ):
        report["config_version"] = version
    signal = body.get("signal")
    if isinstance(signal, dict):
        for key, (name, low, high) in SIGNAL_FIELDS.items():
            value = signal.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                report[name] = value
    return report


def _device_statuses(raw: object) -> dict[str, DeviceStatus]:
    if not isinstance(raw, dict):
        raise ValueError("'devices' must be an object")
    devices = {}
    for name, entry in raw.items():
        try:
            check_gateway_id(name)  # device ids follow the same rules
        except MalformedError:
            raise ValueError(f"device id {name!r} is not valid") from None
        state = entry.get("state") if isinstance(entry, dict) else None
        if state not in DEVICE_STATES:
            raise ValueError(f"device {name!r}: 'state' must be one of ok, degraded, unknown")
        error = entry.get("error")
        if error is not None and not isinstance(error, str):
            raise ValueError(f"device {name!r}: 'error' must be text")
        devices[name] = DeviceStatus(state, error[:MAX_DEVICE_ERROR_CHARS] if error else None)
    return devices


def topic_gateway(topic_root: str, topic: str) -> str | None:
    """The gateway id in ``{topic_root}/{gw}/up/telemetry``, or None for any other topic."""
    prefix = topic_root + "/"
    if not topic.startswith(prefix):
        return None
    levels = topic[len(prefix) :].split("/")
    if len(levels) != 3 or tuple(levels[1:]) != TELEMETRY_SUFFIX or not levels[0]:
        return None
    return levels[0]


def open_message(topic_root: str, topic: str, payload: bytes) -> Opened | Rejected:
    """Check the topic and parse the envelope, without trusting it yet."""
    topic_gw = topic_gateway(topic_root, topic)
    if topic_gw is None:
        detail = f"topic {topic!r} is not {topic_root}/<gateway>/up/telemetry"
        return Rejected(TOPIC_MISMATCH, detail, None)
    try:
        signed = open_envelope(payload)
    except WireError as exc:
        return Rejected(exc.reason, exc.message, topic_gw)
    if signed.gateway_id != topic_gw:
        detail = f"topic names gateway {topic_gw!r}, envelope {signed.gateway_id!r}"
        return Rejected(TOPIC_MISMATCH, detail, topic_gw)
    return Opened(signed)


def verify_message(opened: Opened, secret: bytes | None) -> Batch | Rejected:
    """Verify the signature with the gateway's secret (None: unknown or disabled)."""
    if secret is None:
        detail = f"gateway {opened.gateway_id!r} is not registered or is disabled"
        return Rejected(UNKNOWN_GATEWAY, detail, opened.gateway_id)
    try:
        return verify_envelope(opened.signed, secret)
    except WireError as exc:
        return Rejected(exc.reason, exc.message, opened.gateway_id)


def verify_with_keys(opened: Opened, keys: GatewayKeys | None) -> tuple[Batch, bytes] | Rejected:
    """Verify with each secret that verifies now (current, then the one before a
    rotation during its grace period); return the batch and the secret that verified.

    ``keys`` None: the gateway is unknown. A revoked gateway is refused as ``revoked``.
    """
    gateway_id = opened.gateway_id
    if keys is not None and keys.revoked:
        return Rejected(REVOKED, f"gateway {gateway_id!r} is revoked", gateway_id)
    accepted = () if keys is None else keys.accepted
    if not accepted:
        detail = f"gateway {gateway_id!r} is not registered or is disabled"
        return Rejected(UNKNOWN_GATEWAY, detail, gateway_id)
    first: Rejected | None = None
    for secret in accepted:
        verified = verify_message(opened, secret)
        if not isinstance(verified, Rejected):
            return verified, secret
        first = first or verified
    assert first is not None  # noqa: S101 - accepted is not empty
    return first


def check_batch(
    batch: Batch, received_ms: int, future_margin_ms: int = DEFAULT_FUTURE_MARGIN_MS
) -> Rejected | None:
    """Refuse a verified batch that cannot be stored as sent; None if it can.

    Args:
        batch: the verified batch.
        received_ms: when the cloud received it, epoch milliseconds.
        future_margin_ms: how far after ``received_ms`` a reading may be stamped.
    """
    readings = batch.readings
    latest_ms = received_ms + future_margin_ms
    if not readings or (
        len(set(map(_SERIES_TIME, readings))) == len(readings)
        and max(map(_TIME, readings)) <= latest_ms
    ):
        return None  # the common case, checked in C; else find the first fault below
    seen: set[tuple[str, str, int]] = set()
    for index, reading in enumerate(readings):
        key = (reading.device, reading.quantity, reading.time_ms)
        if key in seen:
            detail = (
                f"reading {index}: a second reading of {reading.device}/{reading.quantity} "
                f"at time_ms {reading.time_ms}"
            )
            return Rejected(MALFORMED, detail, batch.gateway_id)
        seen.add(key)
        if reading.time_ms > latest_ms:
            ahead_s = (reading.time_ms - received_ms) / 1000
            detail = (
                f"reading {index}: time_ms {reading.time_ms} is {ahead_s:.0f} s after the "
                f"batch was received (at most {future_margin_ms / 1000:.0f} s allowed)"
            )
            return Rejected(FUTURE_TIME, detail, batch.gateway_id)
    return None


def flag_implausible(batch: Batch, quantities: Mapping[str, Quantity]) -> Batch:
    """Re-flag normal readings outside their quantity's plausible range as over range.

    The rule is :func:`device_profiles.reflag`, the one the edge applies too.
    Readings of quantities missing from the vocabulary are left alone: storage
    refuses those batches. Returns ``batch`` itself when nothing changes.
    """
    normal = Quality.NORMAL
    changed: list[tuple[int, Reading]] = []
    for index, reading in enumerate(batch.readings):
        # the cheap test first: only a normal reading outside its range can be re-flagged
        if reading.quality is normal:
            spec = quantities.get(reading.quantity)
            if spec is not None and not spec.min <= reading.value <= spec.max:
                changed.append((index, _flag(reading, spec)))
    if not changed:
        return batch
    readings = list(batch.readings)
    for index, flagged in changed:
        readings[index] = flagged
    return dataclasses.replace(batch, readings=tuple(readings))


def _flag(reading: Reading, spec: Quantity | None) -> Reading:
    flag = reflag(reading.quality.value, reading.value, spec)
    if flag == reading.quality.value:
        return reading
    return dataclasses.replace(reading, quality=Quality(flag))
