"""CTWing and OneNET push messages: frames out of them, OneNET's signature (pure)."""

from __future__ import annotations

import base64
import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloud.ingest.platform_push import (
    PushError,
    ctwing_frames,
    onenet_frames,
    onenet_signature,
    onenet_verify_url,
)

FRAME = bytes.fromhex("01A2B3C4D5E6F7")
# CTWing's dataReport as the platform pushes it (fields from the project's domain
# facts, §6.8: transparent transmission puts the device's bytes in APPdata, base64)
CTWING = {
    "upPacketSN": -1,
    "upDataSN": -1,
    "topic": "v1/up/ad",
    "timestamp": 1650554828842,
    "tenantId": "2000033629",
    "serviceId": "",
    "protocol": "lwm2m",
    "productId": "15114816",
    "payload": {"APPdata": base64.b64encode(FRAME).decode()},
    "messageType": "dataReport",
    "deviceType": "",
    "deviceId": "40edca2f3c8a4f5e8a2b8c0d1e2f3a4b",
    "assocAssetId": "",
    "IMSI": "undefined",
    "IMEI": "862592051651472",
}


def test_a_ctwing_data_report_yields_its_appdata() -> None:
    (pushed,) = ctwing_frames(json.dumps(CTWING).encode())
    assert (pushed.device, pushed.frame) == (CTWING["deviceId"], FRAME)


def test_other_ctwing_messages_carry_no_frame_and_bad_ones_are_refused() -> None:
    online = {"messageType": "deviceOnlineOfflineReport", "eventType": 1, "deviceId": "d"}
    assert ctwing_frames(json.dumps(online).encode()) == []
    model = {**CTWING, "payload": {"serviceId": "x", "serviceData": {"t": 1}}}
    for body in (
        b"[1]",
        b"{",
        json.dumps(model).encode(),
        json.dumps({**CTWING, "payload": {"APPdata": "***"}}).encode(),
    ):
        with pytest.raises(PushError, match=r"APPdata|JSON"):
            ctwing_frames(body)


def _onenet(token: str, msg: object, nonce: str = "abcdefgh") -> bytes:
    text = json.dumps(msg, separators=(",", ":"))
    body = {"msg": msg, "msg_signature": onenet_signature(token, nonce, text), "nonce": nonce}
    return json.dumps(body, separators=(",", ":")).encode()


def test_onenet_datapoints_yield_frames_once_the_signature_checks() -> None:
    msg = {
        "at": 1650554828842,
        "type": 1,
        "ds_id": "3200_0_5750",
        "value": FRAME.hex(),
        "dev_id": 5091234,
        "imei": "862592051651472",
    }
    (pushed,) = onenet_frames(_onenet("tok", msg), "tok")
    assert (pushed.device, pushed.frame) == ("862592051651472", FRAME)
    online = {"at": 1, "type": 2, "dev_id": 5091234, "status": 1, "login_type": 7}
    batch = [msg, online, {**msg, "value": base64.b64encode(FRAME + b"!").decode()}]
    assert [p.frame for p in onenet_frames(_onenet("tok", batch), "tok")] == [FRAME, FRAME + b"!"]
    with pytest.raises(PushError) as wrong:
        onenet_frames(_onenet("tok", msg), "another token")
    assert wrong.value.reason == "bad_platform_signature"


def test_onenet_signs_msg_as_sent_not_as_reserialised() -> None:
    msg_text = '{"type": 1, "value": "' + FRAME.hex() + '", "at": 5}'  # spaces, own key order
    nonce = "12345678"
    signature = onenet_signature("tok", nonce, msg_text)
    body = f'{{"msg": {msg_text}, "nonce": "{nonce}", "msg_signature": "{signature}"}}'.encode()
    assert [p.frame for p in onenet_frames(body, "tok")] == [FRAME]


def test_onenet_url_verification() -> None:
    signature = onenet_signature("tok", "nonce123", "hello")
    assert onenet_verify_url("tok", "hello", "nonce123", signature)
    assert onenet_verify_url("tok", "hello", "nonce123", signature.replace("+", " "))
    assert not onenet_verify_url("other", "hello", "nonce123", signature)


@given(st.binary(max_size=300))
def test_push_readers_raise_only_their_error(body: bytes) -> None:
    for read in (ctwing_frames, lambda b: onenet_frames(b, "tok")):
        with contextlib.suppress(PushError):
            read(body)
