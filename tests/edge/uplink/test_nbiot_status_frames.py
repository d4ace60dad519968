"""What of the agent's JSON status an NB-IoT gateway sends, and when (pure)."""

from __future__ import annotations

import json

import pytest

from edge.uplink.nbiot.status_frames import StatusPacer, compact_status
from wire.compact_status import CompactStatus

T0 = 1_790_000_000_000


def status(th1: str = "ok", *, online: bool = True) -> CompactStatus:
    return CompactStatus("gw-nb", T0, online=online, devices={"th1": th1})


def test_the_json_body_becomes_the_compact_status_without_what_a_frame_cannot_carry() -> None:
    body = {
        "state": "online",
        "gw": "gw-nb",
        "time_ms": T0,
        "devices": {"th1": {"state": "degraded", "error": "timeout"}, "th2": {"state": "?"}},
        "outbox": {"pending_readings": 4, "unacked_batches": True, "oldest_unsent_age_s": 12},
        "uptime_s": 3600,
        "clock_synced": None,
        "forged_acks": 1,
        "signal": {"csq": 14, "rssi_dbm": -85, "rsrp_dbm": -999},
        "config_version": "v2",
    }
    assert compact_status("gw-nb", json.dumps(body).encode()) == CompactStatus(
        "gw-nb",
        T0,
        online=True,
        devices={"th1": "degraded"},
        counters={"pending_readings": 4, "uptime_s": 3600, "forged_acks": 1},
        oldest_unsent_age_s=12,
        clock_synced=None,
        signal={"csq": 14, "rssi_dbm": -85},
    )
    offline = compact_status("gw-nb", b'{"state": "offline", "time_ms": 1790000000000}')
    assert (offline.online, offline.devices, offline.counters) == (False, {}, {})
    with pytest.raises(ValueError, match="time_ms"):
        compact_status("gw-nb", b'{"state": "online"}')
    with pytest.raises(json.JSONDecodeError):
        compact_status("gw-nb", b"not json")


def test_the_pacer_lets_changes_through_at_once_and_the_rest_every_interval() -> None:
    pacer = StatusPacer(every_s=900)
    assert pacer.due(status(), 0.0)  # the first
    pacer.sent(status(), 0.0)
    assert not pacer.due(status(), 60.0)  # same presence and devices: not yet
    assert pacer.due(status("degraded"), 61.0)  # a device changed
    assert pacer.due(status(online=False), 61.0)  # the presence changed
    assert pacer.due(status(), 900.0)  # the interval is up
    pacer.sent(status(), 900.0)
    pacer.forget()  # the link was lost and is back
    assert pacer.due(status(), 901.0)
