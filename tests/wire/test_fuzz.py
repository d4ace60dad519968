"""Untrusted input: whatever arrives, decoding raises a WireError subclass or succeeds.

The cloud stores refused messages in a dead-letter table by ``WireError.reason``; any
other exception would crash the ingest worker instead.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from tests.wire.strategies import batches, dumps, json_values, near_batches, near_envelopes
from wire import (
    Batch,
    SignedBatch,
    WireError,
    decode_batch,
    encode_batch,
    open_envelope,
    sign_batch,
    verify_envelope,
)

KEY = b"fuzzing-secret-0123456789"


def _decode(data: Any) -> None:
    try:
        result = decode_batch(data)
    except WireError:
        return
    assert isinstance(result, Batch)


def _open_and_verify(data: Any) -> None:
    try:
        signed = open_envelope(data)
    except WireError:
        return
    assert isinstance(signed, SignedBatch)
    try:
        result = verify_envelope(signed, KEY)
    except WireError:
        return
    assert isinstance(result, Batch)


@given(data=st.binary(max_size=300))
@example(data=b"\xef\xbb\xbf{}")  # UTF-8 BOM
@example(data=b"\xff\xfe{\x00}\x00")  # UTF-16 LE with BOM
@example(data=b"\xff\xfe\x00\xd8")  # UTF-16 lone surrogate
@example(data=b'"\\ud800"')
@example(data=b"9" * 5000)
@example(data=b"-" + b"1" * 4400)
def test_arbitrary_bytes(data: bytes) -> None:
    _decode(data)
    _open_and_verify(data)


@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    _decode(data)
    _open_and_verify(data)
    _decode(text)  # str instead of bytes
    _open_and_verify(text)


@given(value=json_values)
def test_arbitrary_json(value: Any) -> None:
    _decode(dumps(value))
    _open_and_verify(dumps(value))


@given(value=st.none() | st.integers() | st.floats() | st.lists(st.integers(), max_size=3))
def test_arbitrary_python_objects(value: Any) -> None:
    _decode(value)
    _open_and_verify(value)


@given(obj=near_batches)
@example(obj={"v": 1, "gw": "g", "seq": 1, "r": [["d", "q", 10**4000, 1.0, "N"]]})
@example(obj={"v": 1, "gw": "g", "seq": 1, "r": [["d", "q", 1_700_000_000_000, -(10**400), "N"]]})
@example(obj={"v": 1, "gw": "g", "seq": 10**400, "r": []})
@example(obj={"v": 10**400, "gw": "g", "seq": 1, "r": []})
def test_almost_batches(obj: dict[str, Any]) -> None:
    _decode(dumps(obj))
    _open_and_verify(dumps(obj))


@given(obj=near_envelopes)
@example(obj={"v": 1, "alg": "HS256", "gw": "g", "sig": "0" * 64, "body": "\ud800"})
@example(obj={"v": 1, "alg": "HS256", "gw": "g", "sig": "0" * 64, "body": "\udfff{}"})
def test_almost_envelopes(obj: dict[str, Any]) -> None:
    _open_and_verify(dumps(obj))


@given(batch=batches, data=st.data())
def test_mutated_encodings(batch: Batch, data: st.DataObject) -> None:
    for message in (encode_batch(batch), sign_batch(batch, KEY)):
        changed = bytearray(message)
        for _ in range(data.draw(st.integers(1, 4), label="changes")):
            index = data.draw(st.integers(0, len(changed) - 1), label="index")
            changed[index] = data.draw(st.integers(0, 255), label="byte")
        cut = data.draw(st.integers(0, len(changed)), label="cut")
        for candidate in (bytes(changed), bytes(changed[:cut])):
            _decode(candidate)
            _open_and_verify(candidate)


@given(batch=batches, data=st.data())
def test_validly_signed_garbage_body(batch: Batch, data: st.DataObject) -> None:
    """Even a body signed with the right key goes through the same checks."""
    body = data.draw(st.binary(max_size=200) | st.just(encode_batch(batch)), label="body")
    signed = SignedBatch(batch.gateway_id, hmac.new(KEY, body, hashlib.sha256).digest(), body)
    try:
        result = verify_envelope(signed, KEY)
    except WireError:
        return
    assert result == batch
