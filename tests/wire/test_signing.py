"""HMAC-SHA256 envelope: sign, open, verify, and every way a message can be wrong."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.wire.strategies import SECRETS, batches
from wire import (
    BadSignatureError,
    Batch,
    MalformedError,
    Reading,
    SignedBatch,
    UnsignedError,
    WireError,
    encode_batch,
    open_envelope,
    sign_batch,
    verify_envelope,
)
from wire.signing import MIN_SECRET_BYTES, sign_object, signature, verify_object

KEY = b"0123456789abcdef"
T0 = 1_700_000_000_000
BATCH = Batch(
    "gw-001",
    7,
    (
        Reading("th1", "air_temperature", T0, -10.1),
        Reading("th1", "relative_humidity", T0, 65.8),
    ),
)


def _receive(message: bytes, secret: bytes) -> Batch:
    return verify_envelope(open_envelope(message), secret)


def _envelope(**changes: Any) -> bytes:
    obj = json.loads(sign_batch(BATCH, KEY)) | changes
    return json.dumps(obj).encode()


# --- round trip -----------------------------------------------------------------------


@given(batch=batches, secret=SECRETS)
def test_sign_open_verify_round_trip(batch: Batch, secret: bytes) -> None:
    message = sign_batch(batch, secret)
    signed = open_envelope(message)
    assert signed.gateway_id == batch.gateway_id
    assert signed.body == encode_batch(batch)
    assert verify_envelope(signed, secret) == batch


def test_envelope_shape() -> None:
    obj = json.loads(sign_batch(BATCH, KEY))
    assert list(obj) == ["v", "alg", "gw", "sig", "body"]
    assert (obj["v"], obj["alg"], obj["gw"]) == (1, "HS256", "gw-001")
    expected = hmac.new(KEY, encode_batch(BATCH), hashlib.sha256).hexdigest()
    assert obj["sig"] == expected
    assert obj["body"].encode() == encode_batch(BATCH)


def test_signing_is_deterministic() -> None:
    assert sign_batch(BATCH, KEY) == sign_batch(BATCH, KEY)


def test_signature_hex_is_case_insensitive() -> None:
    message = _envelope(sig=json.loads(sign_batch(BATCH, KEY))["sig"].upper())
    assert _receive(message, KEY) == BATCH


# --- tampering and wrong keys ---------------------------------------------------------


@given(batch=batches, secret=SECRETS, data=st.data())
def test_any_single_byte_change_in_the_body_is_refused(
    batch: Batch, secret: bytes, data: st.DataObject
) -> None:
    signed = open_envelope(sign_batch(batch, secret))
    index = data.draw(st.integers(0, len(signed.body) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != signed.body[index]), label="byte")
    body = bytearray(signed.body)
    body[index] = byte
    tampered = SignedBatch(signed.gateway_id, signed.signature, bytes(body))
    with pytest.raises(BadSignatureError, match=re.escape(repr(batch.gateway_id))) as info:
        verify_envelope(tampered, secret)
    assert info.value.reason == "bad_signature"


def _receive_or_error(message: bytes, secret: bytes) -> Batch | WireError:
    try:
        return _receive(message, secret)
    except WireError as exc:
        return exc


def _check_single_byte_change(message: bytes, index: int, byte: int, secret: bytes) -> None:
    """A changed message is refused with a WireError; the one harmless change is hex case."""
    changed = bytearray(message)
    changed[index] = byte
    outcome = _receive_or_error(bytes(changed), secret)
    if isinstance(outcome, WireError):
        return
    sig_start = message.index(b'"sig":"') + len(b'"sig":"')
    assert sig_start <= index < sig_start + 64, f"accepted a change at byte {index}"
    assert chr(byte).lower() == chr(message[index]).lower()
    assert outcome == BATCH


@given(secret=SECRETS, data=st.data())
def test_any_single_byte_change_in_the_message_is_refused(
    secret: bytes, data: st.DataObject
) -> None:
    message = sign_batch(BATCH, secret)
    index = data.draw(st.integers(0, len(message) - 1), label="index")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != message[index]), label="byte")
    _check_single_byte_change(message, index, byte, secret)


def test_every_position_of_the_message_is_covered() -> None:
    message = sign_batch(BATCH, KEY)
    for index in range(len(message)):
        for flip in (0x01, 0x20, 0x80):
            _check_single_byte_change(message, index, message[index] ^ flip, KEY)
        for byte in b'0a" \\{':
            if byte != message[index]:
                _check_single_byte_change(message, index, byte, KEY)


@given(batch=batches, secret=SECRETS, data=st.data())
def test_a_key_one_bit_off_is_refused(batch: Batch, secret: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(secret) - 1), label="index")
    bit = data.draw(st.integers(0, 7), label="bit")
    wrong = bytearray(secret)
    wrong[index] ^= 1 << bit
    with pytest.raises(BadSignatureError):
        _receive(sign_batch(batch, secret), bytes(wrong))


@given(batch=batches, secret=SECRETS, wrong=st.binary(max_size=80))
@example(batch=BATCH, secret=KEY, wrong=b"")
def test_another_key_is_refused(batch: Batch, secret: bytes, wrong: bytes) -> None:
    # HMAC pads short keys with zero bytes, so k and k + b"\0" are the same key.
    assume(wrong.rstrip(b"\0") != secret.rstrip(b"\0"))
    with pytest.raises(BadSignatureError, match="signature does not verify"):
        _receive(sign_batch(batch, secret), wrong)


def test_signature_of_the_wrong_length_is_refused() -> None:
    signed = open_envelope(sign_batch(BATCH, KEY))
    short = SignedBatch(signed.gateway_id, signed.signature[:16], signed.body)
    with pytest.raises(BadSignatureError):
        verify_envelope(short, KEY)


# --- gateway identity -----------------------------------------------------------------


def test_body_naming_another_gateway_is_refused() -> None:
    """A gateway that signs a batch claiming to be another one is caught after the HMAC check."""
    message = _envelope(gw="gw-002")
    signed = open_envelope(message)
    assert signed.gateway_id == "gw-002"
    with pytest.raises(MalformedError, match="body names gateway 'gw-001', envelope 'gw-002'"):
        verify_envelope(signed, KEY)


def test_resigned_body_for_another_gateway_is_refused() -> None:
    other = Batch("gw-002", BATCH.seq, BATCH.readings)
    body = encode_batch(other).decode()
    sig = hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()
    message = _envelope(sig=sig, body=body)  # gw stays gw-001
    with pytest.raises(MalformedError, match="body names gateway 'gw-002', envelope 'gw-001'"):
        _receive(message, KEY)


def test_signed_body_that_is_not_a_batch_is_malformed() -> None:
    body = '{"v":1}'
    sig = hmac.new(KEY, body.encode(), hashlib.sha256).hexdigest()
    with pytest.raises(MalformedError, match="batch lacks gw, r, seq"):
        _receive(_envelope(sig=sig, body=body), KEY)


# --- unsigned and malformed envelopes -------------------------------------------------


@given(batch=batches)
def test_bare_batch_is_unsigned(batch: Batch) -> None:
    with pytest.raises(UnsignedError, match="carries no signature") as info:
        open_envelope(encode_batch(batch))
    assert info.value.reason == "unsigned"


@pytest.mark.parametrize("sig", ["", None])
def test_empty_signature_is_unsigned(sig: str | None) -> None:
    with pytest.raises(UnsignedError):
        open_envelope(_envelope(sig=sig))


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (_envelope(v=2), "unsupported envelope v=2 alg='HS256'"),
        (_envelope(v=True), "unsupported envelope v=True"),
        (_envelope(v=1.0), "unsupported envelope v=1.0"),
        (_envelope(alg="none"), "unsupported envelope v=1 alg='none'"),
        (_envelope(alg="hs256"), "alg='hs256'"),
        (_envelope(extra=1), "envelope keys must be alg, body, gw, sig, v"),
        (json.dumps({"sig": "ab" * 32}).encode(), "envelope keys must be"),
        (_envelope(gw="gw 002"), "gateway id 'gw 002'"),
        (_envelope(gw=None), "gateway id None"),
        (_envelope(sig="ab" * 31), "sig must be 64 hex digits"),
        (_envelope(sig="ab" * 33), "sig must be 64 hex digits"),
        (_envelope(sig="zz" * 32), "sig must be 64 hex digits"),
        (_envelope(sig="\u0660" * 64), "sig must be 64 hex digits"),
        (_envelope(sig=123), "sig must be 64 hex digits"),
        (_envelope(sig=["ab"] * 32), "sig must be 64 hex digits"),
        (_envelope(body={"v": 1}), "body must be a string"),
        (_envelope(body=None), "body must be a string"),
        (_envelope(body="\ud800"), "body is not valid Unicode"),
        (_envelope(v=float("nan")), "NaN is not a valid value"),
        (b"[]", "message must be a JSON object"),
        (b"\x00", "message is not valid JSON"),
        (b'{"a":' * 50_000, "message is nested too deeply"),
        (b" " * (512 * 1024 + 1), "at most 524288"),
    ],
)
def test_malformed_envelopes_say_why(message: bytes, match: str) -> None:
    with pytest.raises(MalformedError, match=match):
        open_envelope(message)


def test_envelope_must_be_bytes() -> None:
    with pytest.raises(MalformedError, match="message must be bytes"):
        open_envelope(sign_batch(BATCH, KEY).decode())  # type: ignore[arg-type]


def test_signature_with_spaces_is_refused() -> None:
    """bytes.fromhex skips spaces, so a spaced signature parses short and must not verify."""
    sig = json.loads(sign_batch(BATCH, KEY))["sig"]
    spaced = " ".join(sig[i : i + 2] for i in range(0, 42, 2))
    assert len(spaced) == 62
    with pytest.raises(WireError):
        _receive(_envelope(sig=spaced + "00"), KEY)


# --- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize("secret", [b"", b"x", b"0123456789abcde"])
def test_short_secret_is_refused_at_signing(secret: bytes) -> None:
    assert len(secret) < MIN_SECRET_BYTES
    with pytest.raises(ValueError, match="at least 16 bytes"):
        sign_batch(BATCH, secret)


def test_text_secret_is_refused_at_signing() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        sign_batch(BATCH, "0123456789abcdef0123")  # type: ignore[arg-type]


def test_sixteen_byte_secret_is_enough() -> None:
    assert _receive(sign_batch(BATCH, b"\0" * 16), b"\0" * 16) == BATCH


def test_error_reasons_are_stable() -> None:
    assert (MalformedError.reason, UnsignedError.reason, BadSignatureError.reason) == (
        "malformed",
        "unsigned",
        "bad_signature",
    )
    for error in (MalformedError, UnsignedError, BadSignatureError):
        assert issubclass(error, WireError)
        assert issubclass(error, ValueError)


# --- objects signed in place (up/status) ----------------------------------------------


@given(
    body=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=8), min_size=1),
    secret=SECRETS,
)
def test_sign_object_round_trip_and_stays_json(body: dict[str, object], secret: bytes) -> None:
    raw = json.dumps(body, separators=(",", ":")).encode()
    signed = sign_object(raw, secret)
    assert verify_object(signed, secret) == raw
    assert json.loads(signed) == body | {"sig": signature(raw, secret).hex()}


def test_a_tampered_or_unsigned_object_is_refused() -> None:
    signed = sign_object(b'{"state":"online"}', KEY)
    with pytest.raises(BadSignatureError):
        verify_object(signed.replace(b"online", b"offline"), KEY)
    with pytest.raises(BadSignatureError):
        verify_object(signed, b"another secret!!")
    with pytest.raises(UnsignedError):
        verify_object(b'{"state":"online"}', KEY)
    with pytest.raises(ValueError, match="object"):
        sign_object(b"{}", KEY)
