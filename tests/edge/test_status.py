"""The online status body: device states, short errors, outbox counts, a size bound."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from edge.app import Health
from edge.polling import DeviceHealth
from edge.status import MAX_ERROR_CHARS, MAX_STATUS_BYTES, device_entry, short_error, status_body

GW = "gw-status-01"
NOW_MS = 1_790_000_000_123


def health(*devices: DeviceHealth, pending: int = 0, unacked: int = 0) -> Health:
    return Health(
        gateway_id=GW,
        uplink_connected=True,
        devices={d.device_id: d for d in devices},
        pending_readings=pending,
        unacked_batches=unacked,
        next_seq=unacked + 1,
        last_sealed_seq=unacked or None,
        last_acked_seq=None,
        acked_batches=0,
    )


def device(device_id: str, slave: int, state: Any = "ok", error: str | None = None) -> DeviceHealth:
    return DeviceHealth(device_id, "station-1", slave, state=state, error=error)


def test_degraded_device_error_is_one_short_line_and_outbox_is_counted() -> None:
    long_error = "slave 2 at 127.0.0.1:5020: no response (timeout)\n" + "x" * 300
    body = status_body(
        health(
            device("th1", 1),
            device("th2", 2, "degraded", long_error),
            device("th3", 3, "unknown"),
            pending=12,
            unacked=3,
        ),
        NOW_MS,
    )
    parsed = json.loads(body)
    error = parsed["devices"]["th2"]["error"]
    assert parsed == {
        "state": "online",
        "gw": GW,
        "time_ms": NOW_MS,
        "devices": {
            "th1": {"state": "ok"},
            "th2": {"state": "degraded", "error": error},
            "th3": {"state": "unknown"},
        },
        "outbox": {
            "pending_readings": 12,
            "unacked_batches": 3,
            "quarantined_batches": 0,
            "resent_batches": 0,
            "thinned_readings": 0,
        },
        "uptime_s": 0,
        "clock_synced": None,
        "forged_acks": 0,
    }
    assert len(error) == MAX_ERROR_CHARS
    assert error.startswith("slave 2 at 127.0.0.1:5020: no response (timeout) xxx")  # one line
    assert error.endswith("...")
    assert body == json.dumps(parsed, separators=(",", ":")).encode()  # compact
    assert list(parsed["devices"]) == ["th1", "th2", "th3"]  # configuration order


def test_exact_bytes_of_a_small_body() -> None:
    body = status_body(
        health(device("th1", 1), device("th2", 2, "degraded", "slave 2: no response (timeout)")),
        NOW_MS,
    )
    assert body == (
        b'{"state":"online","gw":"gw-status-01","time_ms":1790000000123,'
        b'"devices":{"th1":{"state":"ok"},'
        b'"th2":{"state":"degraded","error":"slave 2: no response (timeout)"}},'
        b'"outbox":{"pending_readings":0,"unacked_batches":0,"quarantined_batches":0,'
        b'"resent_batches":0,"thinned_readings":0},"uptime_s":0,"clock_synced":null,"forged_acks":0}'
    )


def test_error_only_on_a_degraded_device() -> None:
    stale = device("th1", 1, "ok", error="left over")
    assert json.loads(status_body(health(stale), NOW_MS))["devices"] == {"th1": {"state": "ok"}}


def test_short_errors_are_kept_whole() -> None:
    assert short_error("x" * MAX_ERROR_CHARS) == "x" * MAX_ERROR_CHARS
    assert short_error("a\tb\r\n c") == "a b c"


def test_a_huge_gateway_stays_within_the_bound_and_keeps_degraded_devices() -> None:
    devices = [
        device(f"{'d' * 56}-{n:06d}", n % 247 + 1, "degraded" if n % 50 == 0 else "ok", "é" * 300)
        for n in range(1000)
    ]
    body = status_body(health(*devices, pending=7, unacked=2), NOW_MS)
    assert len(body) <= MAX_STATUS_BYTES
    parsed = json.loads(body)
    assert parsed["outbox"]["pending_readings"] == 7
    assert parsed["outbox"]["unacked_batches"] == 2
    listed = parsed["devices"]
    degraded = [d.device_id for d in devices if d.state == "degraded"]
    assert all(listed[d]["state"] == "degraded" for d in degraded)  # kept first
    assert 0 < len(listed) < len(devices)
    assert list(listed) == [d.device_id for d in devices if d.device_id in listed]


def test_long_errors_are_dropped_before_any_device_state() -> None:
    devices = [device(f"th{n}", n, "degraded", "é" * 300) for n in range(1, 61)]
    body = status_body(health(*devices), NOW_MS)
    assert len(body) <= MAX_STATUS_BYTES
    listed = json.loads(body)["devices"]
    assert {d: e["state"] for d, e in listed.items()} == {d.device_id: "degraded" for d in devices}
    with_error = [d for d, e in listed.items() if "error" in e]
    assert 0 < len(with_error) < len(devices)  # errors while room is left


def test_error_counts_ride_along_when_not_zero() -> None:
    degraded = DeviceHealth(
        "th2",
        "station-1",
        2,
        state="degraded",
        error="no response (timeout)",
        errors={"timeout": 3, "crc": 0, "late": 1},
    )
    assert device_entry(degraded) == {
        "state": "degraded",
        "error": "no response (timeout)",
        "errors": {"late": 1, "timeout": 3},
    }
    assert device_entry(DeviceHealth("th1", "station-1", 1, state="ok")) == {"state": "ok"}


def test_config_version_appears_only_once_a_pushed_config_is_applied() -> None:
    assert "config_version" not in json.loads(status_body(health(device("th1", 1)), NOW_MS))
    pushed = dataclasses.replace(health(device("th1", 1)), config_version="v7")
    assert json.loads(status_body(pushed, NOW_MS))["config_version"] == "v7"


def test_oldest_unsent_age_signal_and_config_version_are_reported_when_known() -> None:
    waiting = dataclasses.replace(
        health(device("th1", 1), pending=3),
        oldest_unsent_ms=NOW_MS - 95_500,
        signal={"csq": 14, "rssi_dbm": -85},
        config_version="2026-11-30.1",
    )
    body = json.loads(status_body(waiting, NOW_MS))
    assert body["outbox"]["oldest_unsent_age_s"] == 95
    assert body["signal"] == {"csq": 14, "rssi_dbm": -85}
    assert body["config_version"] == "2026-11-30.1"
    # a clock that stepped back since: no negative age
    stepped = dataclasses.replace(waiting, oldest_unsent_ms=NOW_MS + 5_000)
    assert json.loads(status_body(stepped, NOW_MS))["outbox"]["oldest_unsent_age_s"] == 0
    bare = json.loads(status_body(health(device("th1", 1)), NOW_MS))
    assert "oldest_unsent_age_s" not in bare["outbox"]
    assert "signal" not in bare
    assert "config_version" not in bare
