"""Operator platforms' HTTP push (China Telecom CTWing, China Mobile OneNET): frames out of JSON.

Layer: pure ingest logic (no I/O): read the platform's push message, check the
platform's own credential, and take out the device's uplink bytes, which are a
compact frame whose HMAC the caller verifies next, exactly as for UDP.

CTWing (AEP) subscription push, ``messageType: "dataReport"``: the device's
bytes are ``payload.APPdata``, base64 (transparent transmission). Other message
types (``deviceOnlineOfflineReport``, ``commandResponse`` ...) carry no frame.
The public material on CTWing's push shows no signature over the message (the
platform POSTs to the subscribed URL and retries up to 3 times on anything but
200); so the URL itself carries a secret token the operator puts in the
subscription, compared in constant time, and the frame's own HMAC is what
authenticates the data.

OneNET (legacy "数据推送"): the body is ``{"msg": ..., "msg_signature": "...",
"nonce": "..."}``; the signature is base64(MD5(token + nonce + msg)), ``msg`` as
JSON text (OneNET's own receiver sample, ``com.onenet.datapush.receiver.Util.checkSignature``,
hashes ``msg.toString()``): the text as it stands in the body, or its compact form.
``msg`` is one message or a list of them; a datapoint (``type`` 1) holds the
device's bytes in ``value`` as hex (or base64). URL verification: a GET with ``msg``, ``nonce`` and
``signature``, signed the same way, answered with ``msg`` itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

CTWING_DATA_REPORT = "dataReport"
ONENET_DATAPOINT = 1
_MSG_KEY = re.compile(r'"msg"\s*:\s*')


class PushError(ValueError):
    """A push message that cannot be read, or whose platform credential is wrong.

    Attributes:
        reason: stable code (``malformed``, ``bad_platform_signature``).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class PushedFrame:
    """One device uplink out of a push message.

    Attributes:
        device: the platform's device id (or IMEI), for the dead-letter source.
        frame: the bytes the device sent (a compact frame, still unverified).
    """

    device: str
    frame: bytes


def token_matches(given: str, expected: str) -> bool:
    """Constant-time comparison of a URL token."""
    return hmac.compare_digest(given.encode(), expected.encode())


def ctwing_frames(body: bytes) -> list[PushedFrame]:
    """The frame of a CTWing ``dataReport`` push (none for other message types).

    Raises:
        PushError: not a CTWing push message, or APPdata is not base64.
    """
    message = _json_object(body)
    if message.get("messageType") != CTWING_DATA_REPORT:
        return []
    payload = message.get("payload")
    appdata = payload.get("APPdata") if isinstance(payload, dict) else None
    if not isinstance(appdata, str):
        raise PushError("malformed", "dataReport without payload.APPdata (object model?)")
    device = str(message.get("deviceId") or message.get("IMEI") or "-")
    try:
        frame = base64.b64decode(appdata, validate=True)
    except binascii.Error:
        raise PushError("malformed", "payload.APPdata is not base64") from None
    return [PushedFrame(device, frame)]


def onenet_signature(token: str, nonce: str, msg: str) -> str:
    """base64(MD5(token + nonce + msg)), as OneNET signs its pushes."""
    digest = hashlib.md5((token + nonce + msg).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def onenet_verify_url(token: str, msg: str, nonce: str, signature: str) -> bool:
    """Whether OneNET's URL-verification GET is signed with ``token``.

    A ``+`` of the base64 signature arrives as a space once the query is decoded.
    """
    expected = onenet_signature(token, nonce, msg)
    return hmac.compare_digest(expected, signature.replace(" ", "+"))


def onenet_frames(body: bytes, token: str) -> list[PushedFrame]:
    """The frames of the datapoints in a OneNET push, once its signature is checked.

    Raises:
        PushError: unreadable, or ``msg_signature`` does not match ``token``.
    """
    message = _json_object(body)
    nonce, signature = message.get("nonce"), message.get("msg_signature")
    if not isinstance(nonce, str) or not isinstance(signature, str) or "msg" not in message:
        raise PushError("malformed", "OneNET push without msg, nonce or msg_signature")
    signed = {onenet_signature(token, nonce, text) for text in _msg_texts(body, message["msg"])}
    if not any(hmac.compare_digest(expected, signature) for expected in signed):
        raise PushError("bad_platform_signature", "msg_signature does not match the token")
    items = message["msg"] if isinstance(message["msg"], list) else [message["msg"]]
    frames = []
    for item in items:
        if isinstance(item, dict) and item.get("type") == ONENET_DATAPOINT:
            device = str(item.get("imei") or item.get("dev_id") or "-")
            frames.append(PushedFrame(device, _device_bytes(item.get("value"))))
    return frames


def _msg_texts(body: bytes, msg: object) -> list[str]:
    """``msg`` as the platform may have signed it: its JSON text in the body, or compact JSON.

    A string ``msg`` (encrypted mode) is signed as itself.
    """
    if isinstance(msg, str):
        return [msg]
    texts = [json.dumps(msg, separators=(",", ":"), ensure_ascii=False)]
    text = body.decode("utf-8", "replace")  # json.loads also took UTF-16/32
    found = _MSG_KEY.search(text)
    if found is not None:
        try:
            value, end = json.JSONDecoder().raw_decode(text, found.end())
        except json.JSONDecodeError:
            return texts
        if value == msg:
            texts.append(text[found.end() : end])
    return texts


def _device_bytes(value: object) -> bytes:
    if not isinstance(value, str) or not value:
        raise PushError("malformed", "datapoint value is not the device's bytes as a string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        pass
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise PushError("malformed", "datapoint value is neither hex nor base64") from None


def _json_object(body: bytes) -> dict[str, object]:
    try:
        message = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PushError("malformed", "body is not JSON") from None
    if not isinstance(message, dict):
        raise PushError("malformed", "body is not a JSON object")
    return message
