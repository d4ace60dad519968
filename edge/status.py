"""The gateway's online presence message: its health, as the cloud reads it.

Layer: pure functions (no I/O, no clock); the agent decides when to publish and
the uplink publishes the bytes on the retained ``{root}/{gateway}/up/status``.

Body (compact JSON, at most :data:`MAX_STATUS_BYTES`)::

    {"state": "online", "gw": "gw-1", "time_ms": 1790000000000,
     "devices": {"th1": {"state": "ok"},
                 "th2": {"state": "degraded", "error": "slave 2 ...: no response (timeout)"}},
     "outbox": {"pending_readings": 12, "unacked_batches": 0, "quarantined_batches": 0,
                "resent_batches": 0, "thinned_readings": 0, "oldest_unsent_age_s": 42},
     "uptime_s": 3600, "clock_synced": true, "forged_acks": 0,
     "signal": {"csq": 14, "rssi_dbm": -85}}

``oldest_unsent_age_s`` (how long the oldest reading not yet confirmed by the
cloud has waited, from when it was sealed into a batch or taken) appears only
while the outbox holds one. ``signal`` appears only on an uplink that measures
one (NB-IoT: ``csq`` and ``rssi_dbm`` from ``AT+CSQ``, ``rsrp_dbm`` from
``AT+CESQ`` where the module answers it).

``clock_synced`` is false while the kernel says the clock is not synchronised
(no NTP yet on a board without RTC: readings taken then may be mis-dated), null
where that cannot be asked. The agent also keeps the body in
``data_dir/`` :data:`STATUS_FILE`, for ``shanshui edge status``.

``config_version`` (the version of the pushed config the agent runs, see
:mod:`edge.remote`) appears only on a gateway that has applied one.
``errors`` (failure counts by kind since start: ``timeout``, ``crc``,
``garbage``, ``exception``, ``link``, ``decode``, ``late``) appears only when
one is non-zero; it goes with the error text when the body must shrink.
``error`` appears only on a degraded device: the poller's message (which names
bus, slave and failure, never a secret), whitespace collapsed, at most
:data:`MAX_ERROR_CHARS` characters. A gateway with so many devices that the
body would exceed the size bound first loses error texts, then its ``ok``
devices, then its ``unknown`` ones: degraded devices are what the message is for.
The offline message (last will, clean close) is not built here: see
:func:`edge.uplink.mqtt_topics.status_payload`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.app import Health
    from edge.polling import DeviceHealth

STATUS_FILE = "status.json"
MAX_STATUS_BYTES = 16 * 1024
MAX_ERROR_CHARS = 200
_ELLIPSIS = "..."
# which devices a body too large for MAX_STATUS_BYTES keeps first
_KEEP_ORDER = {"degraded": 0, "unknown": 1, "ok": 2}


def short_error(text: str) -> str:
    """``text`` on one line, cut to :data:`MAX_ERROR_CHARS` characters (ending in ``...``)."""
    line = " ".join(text.split())
    if len(line) <= MAX_ERROR_CHARS:
        return line
    return line[: MAX_ERROR_CHARS - len(_ELLIPSIS)] + _ELLIPSIS


def device_entry(device: DeviceHealth, *, with_error: bool = True) -> dict[str, Any]:
    """``{"state": ...}``, plus ``"error"`` for a degraded device with a reason and its counts."""
    entry: dict[str, Any] = {"state": device.state}
    if with_error and device.state == "degraded" and device.error:
        entry["error"] = short_error(device.error)
    counts = {kind: n for kind, n in sorted(device.errors.items()) if n}
    if with_error and counts:
        entry["errors"] = counts
    return entry


def status_body(health: Health, now_ms: int) -> bytes:
    """The online presence message for ``health`` at UTC epoch ms ``now_ms``."""
    devices = {d: device_entry(h) for d, h in health.devices.items()}
    body = _encode(health, now_ms, devices)
    if len(body) <= MAX_STATUS_BYTES:
        return body
    return _encode(health, now_ms, _fitted(health, now_ms, health.devices))


def _fitted(
    health: Health, now_ms: int, devices: Mapping[str, DeviceHealth]
) -> dict[str, dict[str, Any]]:
    """As many device entries as fit: all states first, then error texts while room is left."""
    room = MAX_STATUS_BYTES - len(_encode(health, now_ms, {}))
    ranked = sorted(devices.items(), key=lambda item: _KEEP_ORDER[item[1].state])
    kept: dict[str, dict[str, Any]] = {}
    for device_id, device in ranked:
        cost = _entry_bytes(device_id, device_entry(device, with_error=False))
        if cost > room:
            break
        kept[device_id] = device_entry(device, with_error=False)
        room -= cost
    for device_id, bare in list(kept.items()):
        full = device_entry(devices[device_id])
        extra = _entry_bytes(device_id, full) - _entry_bytes(device_id, bare)
        if len(full) > len(bare) and extra <= room:
            kept[device_id] = full
            room -= extra
    # configuration order, as in a body that fits
    return {d: kept[d] for d in devices if d in kept}


def _entry_bytes(device_id: str, entry: dict[str, Any]) -> int:
    """Bytes one entry adds to ``"devices"``: key, colon, value and a separating comma."""
    return len(_dumps({device_id: entry})) - 2 + 1


def _encode(health: Health, now_ms: int, devices: dict[str, dict[str, Any]]) -> bytes:
    body: dict[str, Any] = {
        "state": "online",
        "gw": health.gateway_id,
        "time_ms": now_ms,
        "devices": devices,
        "outbox": {
            "pending_readings": health.pending_readings,
            "unacked_batches": health.unacked_batches,
            "quarantined_batches": health.quarantined_batches,
            "resent_batches": health.resent_batches,
            "thinned_readings": health.thinned_readings,
        },
        "uptime_s": int(health.uptime_s),
        "clock_synced": health.clock_synced,
        "forged_acks": health.forged_acks,
    }
    if health.oldest_unsent_ms is not None:
        age_s = max(0, (now_ms - health.oldest_unsent_ms) // 1000)
        body["outbox"]["oldest_unsent_age_s"] = age_s
    if health.signal:
        body["signal"] = dict(health.signal)
    if health.config_version is not None:
        body["config_version"] = health.config_version
    return _dumps(body)


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
