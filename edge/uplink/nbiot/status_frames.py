"""What an NB-IoT gateway sends of its status, and when.

Layer: pure (no I/O; time is an argument). The agent builds its status as the
JSON body of ``up/status`` (:mod:`edge.status`); over NB-IoT it travels as a
compact status frame (:mod:`wire.compact_status`), and not every minute: each
frame costs airtime and battery. :class:`StatusPacer` lets one through when the
presence or a device's state changed since the last one sent, and otherwise at
most every ``every_s`` (15 minutes by default).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from wire.compact_status import COUNTERS, DEVICE_STATES, SIGNAL, CompactStatus

STATUS_EVERY_S = 900.0


def compact_status(gateway_id: str, payload: bytes) -> CompactStatus:
    """The compact form of a JSON status body (``payload``, as :mod:`edge.status` builds it).

    What the frame cannot carry is left out: error texts, config version, and
    fields of the wrong type.

    Raises:
        ValueError: not a JSON object with a ``time_ms``.
    """
    body = json.loads(payload)
    if not isinstance(body, dict) or not _is_count(body.get("time_ms")):
        raise ValueError("a status body is a JSON object with time_ms")
    outbox = _mapping(body.get("outbox"))
    counters: dict[str, int] = {}
    for name in COUNTERS:  # uptime_s and forged_acks are at the top level, the rest in outbox
        value = outbox.get(name, body.get(name))
        if _is_count(value):
            counters[name] = value
    devices = {
        device: entry["state"]
        for device, entry in _mapping(body.get("devices")).items()
        if isinstance(entry, dict) and entry.get("state") in DEVICE_STATES
    }
    age = outbox.get("oldest_unsent_age_s")
    synced = body.get("clock_synced")
    return CompactStatus(
        gateway_id,
        body["time_ms"],
        online=body.get("state", "online") == "online",
        devices=devices,
        counters=counters,
        oldest_unsent_age_s=age if _is_count(age) else None,
        clock_synced=synced if isinstance(synced, bool) else None,
        signal={
            name: value
            for name, (low, high) in SIGNAL.items()
            if isinstance(value := _mapping(body.get("signal")).get(name), int)
            and not isinstance(value, bool)
            and low <= value <= high
        },
    )


class StatusPacer:
    """Decides which statuses go out: changes at once, the rest every ``every_s``."""

    def __init__(self, every_s: float = STATUS_EVERY_S) -> None:
        self._every_s = every_s
        self._sent_at: float | None = None
        self._sent: tuple[bool, tuple[tuple[str, str], ...]] | None = None

    def due(self, status: CompactStatus, now_s: float) -> bool:
        """Whether ``status`` should be sent at ``now_s`` (monotonic seconds)."""
        if self._sent_at is None or self._sent != _what_matters(status):
            return True
        return now_s - self._sent_at >= self._every_s

    def sent(self, status: CompactStatus, now_s: float) -> None:
        """``status`` went out at ``now_s``."""
        self._sent_at, self._sent = now_s, _what_matters(status)

    def forget(self) -> None:
        """The link was lost: the next status after the reconnect goes out at once."""
        self._sent_at = self._sent = None


def _what_matters(status: CompactStatus) -> tuple[bool, tuple[tuple[str, str], ...]]:
    return status.online, tuple(sorted(status.devices.items()))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}
