"""The pure accept / dead-letter decision for one telemetry message."""

from __future__ import annotations

import json

import pytest

from cloud.ingest.decode import (
    Channel,
    DeviceStatus,
    Opened,
    Rejected,
    Status,
    channel_of,
    flag_implausible,
    ingest_subscription,
    open_message,
    parse_status,
    topic_gateway,
    verify_message,
)
from device_profiles import load_quantities
from tests.cloud.helpers import make_batch
from wire import Batch, Quality, encode_batch, sign_batch

ROOT = "shanshui/v1"
SECRET = b"k" * 32
TOPIC = f"{ROOT}/gw-1/up/telemetry"


def _opened(payload: bytes, topic: str = TOPIC) -> Opened:
    opened = open_message(ROOT, topic, payload)
    assert isinstance(opened, Opened)
    return opened


def test_subscription_is_shared_and_covers_every_gateway() -> None:
    assert ingest_subscription(ROOT, "ingest") == "$share/ingest/shanshui/v1/+/up/#"


@pytest.mark.parametrize(
    ("topic", "channel"),
    [
        (TOPIC, Channel("gw-1", "telemetry")),
        ("shanshui/v1/gw-1/up/status", Channel("gw-1", "status")),
        ("shanshui/v1/gw-1/up/event", Channel("gw-1", "event")),
        ("shanshui/v1/gw-1/up/telemetry/extra", None),
        ("shanshui/v1/gw-1/down/cmd", None),
        ("shanshui/v1//up/status", None),
        ("shanshui/v1/gw-1/up/", None),
        ("other/v1/gw-1/up/status", None),
    ],
)
def test_channel_of(topic: str, channel: Channel | None) -> None:
    assert channel_of(ROOT, topic) == channel


@pytest.mark.parametrize(
    ("payload", "state"),
    [
        (b'{"state":"online","gw":"gw-1","time_ms":1790000000000}', "online"),
        (b'{"state":"offline"}', "offline"),
    ],
)
def test_status_states(payload: bytes, state: str) -> None:
    assert parse_status(Channel("gw-1", "status"), payload) == Status(state, {})


def test_status_carries_device_health() -> None:
    payload = json.dumps(
        {
            "state": "online",
            "gw": "gw-1",
            "time_ms": 1790000000000,
            "devices": {
                "th1": {"state": "ok"},
                "th2": {"state": "degraded", "error": "timeout " * 40},
            },
            "outbox": {"pending_readings": 3, "unacked_batches": 0},
        }
    ).encode()
    status = parse_status(Channel("gw-1", "status"), payload)
    assert isinstance(status, Status)
    assert status.devices["th1"] == DeviceStatus("ok")
    assert status.devices["th2"].state == "degraded"
    assert len(status.devices["th2"].error or "") == 200  # bounded, as the column is
    assert status.report == {"pending_readings": 3, "unacked_batches": 0}


def test_status_report_keeps_only_well_typed_known_fields() -> None:
    body = {
        "state": "online",
        "outbox": {
            "pending_readings": 12,
            "unacked_batches": -1,  # negative: left out
            "quarantined_batches": True,  # a boolean is no count
            "thinned_readings": 4,
            "oldest_unsent_age_s": 95,
            "secret": 7,  # not a known counter
        },
        "uptime_s": 3600,
        "clock_synced": False,
        "forged_acks": "0",
        "config_version": "2026-11-30.1",
        "signal": {"csq": 14, "rssi_dbm": -85, "rsrp_dbm": 20, "ber": 3},  # RSRP is negative
    }
    status = parse_status(Channel("gw-1", "status"), json.dumps(body).encode())
    assert isinstance(status, Status)
    assert status.report == {
        "pending_readings": 12,
        "thinned_readings": 4,
        "oldest_unsent_age_s": 95,
        "uptime_s": 3600,
        "clock_synced": False,
        "config_version": "2026-11-30.1",
        "signal_csq": 14,
        "signal_rssi_dbm": -85,
    }


@pytest.mark.parametrize("version", ["", "x" * 65, "v1\n", 7, None, ["v1"]])
def test_a_config_version_that_is_not_a_short_printable_text_is_left_out(version: object) -> None:
    body = {"state": "online", "config_version": version, "signal": "strong"}
    status = parse_status(Channel("gw-1", "status"), json.dumps(body).encode())
    assert isinstance(status, Status)
    assert status.report == {}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"online",
        b'{"state":"sleeping"}',
        b"[1]",
        b"\xff\xfe",
        b'{"state":"online"' + b" " * 17_000 + b"}",  # over the 16 KiB bound
        b'{"state":"online","devices":[]}',
        b'{"state":"online","devices":{"th 1":{"state":"ok"}}}',
        b'{"state":"online","devices":{"th1":{"state":"broken"}}}',
        b'{"state":"online","devices":{"th1":{"state":"degraded","error":7}}}',
    ],
)
def test_bad_status_is_malformed(payload: bytes) -> None:
    rejected = parse_status(Channel("gw-1", "status"), payload)
    assert isinstance(rejected, Rejected)
    assert (rejected.reason, rejected.gateway_id) == ("malformed", "gw-1")


@pytest.mark.parametrize(
    ("topic", "gateway"),
    [
        (TOPIC, "gw-1"),
        ("shanshui/v1/gw-1/up/status", None),
        ("shanshui/v1/gw-1/up/telemetry/extra", None),
        ("shanshui/v1//up/telemetry", None),
        ("other/v1/gw-1/up/telemetry", None),
        ("shanshui/v10/gw-1/up/telemetry", None),
    ],
)
def test_topic_gateway(topic: str, gateway: str | None) -> None:
    assert topic_gateway(ROOT, topic) == gateway


def test_a_good_message_is_accepted() -> None:
    batch = make_batch("gw-1", 3, [20.0, 21.0])
    verified = verify_message(_opened(sign_batch(batch, SECRET)), SECRET)
    assert verified == batch


def test_tampered_body_is_a_bad_signature() -> None:
    envelope = json.loads(sign_batch(make_batch("gw-1", 3, [20.0]), SECRET))
    envelope["body"] = envelope["body"].replace("20.0", "99.0")
    outcome = verify_message(_opened(json.dumps(envelope).encode()), SECRET)
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.gateway_id) == ("bad_signature", "gw-1")


def test_wrong_secret_is_a_bad_signature() -> None:
    outcome = verify_message(_opened(sign_batch(make_batch("gw-1", 1), SECRET)), b"x" * 32)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "bad_signature"


def test_bare_batch_is_unsigned() -> None:
    outcome = open_message(ROOT, TOPIC, encode_batch(make_batch("gw-1", 1)))
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.gateway_id) == ("unsigned", "gw-1")


@pytest.mark.parametrize("payload", [b"", b"\xff\xfe", b"[1,2]", b'{"v":1,"sig":"ab"}'])
def test_garbage_is_malformed(payload: bytes) -> None:
    outcome = open_message(ROOT, TOPIC, payload)
    assert isinstance(outcome, Rejected)
    assert outcome.reason == "malformed"


def test_envelope_for_another_gateway_is_a_topic_mismatch() -> None:
    payload = sign_batch(make_batch("gw-2", 1), SECRET)
    outcome = open_message(ROOT, TOPIC, payload)
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.gateway_id) == ("topic_mismatch", "gw-1")


def test_topic_outside_the_root_is_a_topic_mismatch() -> None:
    outcome = open_message(ROOT, "elsewhere/gw-1/up/telemetry", b"{}")
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.gateway_id) == ("topic_mismatch", None)


def test_no_secret_means_unknown_gateway() -> None:
    outcome = verify_message(_opened(sign_batch(make_batch("gw-1", 1), SECRET)), None)
    assert isinstance(outcome, Rejected)
    assert (outcome.reason, outcome.gateway_id) == ("unknown_gateway", "gw-1")


def test_implausible_normal_readings_are_flagged_over_range() -> None:
    quantities = load_quantities()
    batch = make_batch("gw-1", 1, [21.0, 500.0, -80.0])
    flagged = flag_implausible(batch, quantities)
    assert [r.quality for r in flagged.readings] == [
        Quality.NORMAL,
        Quality.OVER_RANGE,
        Quality.OVER_RANGE,
    ]
    faulty = make_batch("gw-1", 2, [500.0], quality=Quality.FAULT)
    assert flag_implausible(faulty, quantities) is faulty
    plausible = make_batch("gw-1", 3, [21.0])
    assert flag_implausible(plausible, quantities) is plausible
    unknown = make_batch("gw-1", 4, [1e9], quantity="flux_capacitance")
    assert flag_implausible(unknown, quantities) is unknown
    assert isinstance(flagged, Batch)
