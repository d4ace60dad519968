"""The cloud's signed acknowledgement: round trip, forgery, and hostile bodies."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.strategies import IDS, SECRETS, dumps, json_values
from wire import (
    BadSignatureError,
    MalformedError,
    UnsignedError,
    WireError,
    encode_batch,
    open_envelope,
    verify_envelope,
)
from wire.ack import (
    MAX_SETTLED,
    TAG_BYTES,
    Ack,
    Refusal,
    decode_ack,
    encode_ack,
    refusal_tag,
    sign_ack,
    verify_ack,
)
from wire.batch import MAX_SEQ, Batch
from wire.signing import sign_body

KEY = b"0123456789abcdef"
OTHER = b"fedcba9876543210"
SEQS = st.integers(0, MAX_SEQ)
REASONS = st.from_regex(r"[a-z][a-z0-9_]{0,39}", fullmatch=True)
TAGS = st.binary(min_size=TAG_BYTES, max_size=TAG_BYTES)


@st.composite
def acks(draw: st.DrawFn) -> Ack:
    seqs = sorted(draw(st.sets(SEQS, max_size=40)))
    refused_seqs = draw(st.sets(st.sampled_from(seqs), max_size=5)) if seqs else set()
    committed = tuple(s for s in seqs if s not in refused_seqs)
    refused = tuple(Refusal(s, draw(REASONS), draw(TAGS)) for s in sorted(refused_seqs))
    return Ack(draw(IDS), committed, refused)


@given(ack=acks(), secret=SECRETS)
def test_sign_verify_round_trip(ack: Ack, secret: bytes) -> None:
    assert verify_ack(sign_ack(ack, secret), secret, ack.gateway_id) == ack


@given(ack=acks())
def test_decode_encode_round_trip(ack: Ack) -> None:
    assert decode_ack(encode_ack(ack)) == ack


@given(start=st.integers(0, 10**12), count=st.integers(1, MAX_SETTLED))
def test_a_run_of_seqs_costs_one_range(start: int, count: int) -> None:
    ack = Ack("gw-1", tuple(range(start, start + count)))
    assert json.loads(encode_ack(ack))["ok"] == [[start, start + count - 1]]


@given(ack=acks(), secret=SECRETS, other=SECRETS)
def test_an_ack_signed_with_another_secret_is_refused(
    ack: Ack, secret: bytes, other: bytes
) -> None:
    if other == secret:
        return
    with pytest.raises(BadSignatureError):
        verify_ack(sign_ack(ack, other), secret, ack.gateway_id)


def test_an_ack_for_another_gateway_is_refused() -> None:
    with pytest.raises(MalformedError, match="expected 'gw-2'"):
        verify_ack(sign_ack(Ack("gw-1", (1,)), KEY), KEY, "gw-2")


def test_a_tampered_ack_is_refused() -> None:
    signed = json.loads(sign_ack(Ack("gw-1", (1, 2)), KEY))
    signed["body"] = signed["body"].replace("[1,2]", "[1,9]")
    with pytest.raises(BadSignatureError):
        verify_ack(json.dumps(signed).encode(), KEY, "gw-1")


def test_an_unsigned_ack_is_refused() -> None:
    with pytest.raises(UnsignedError):
        verify_ack(encode_ack(Ack("gw-1", (1,))), KEY, "gw-1")


def test_a_batch_is_not_an_ack_and_an_ack_is_not_a_batch() -> None:
    batch_body = encode_batch(Batch("gw-1", 5, ()))
    with pytest.raises(MalformedError):
        verify_ack(sign_body("gw-1", batch_body, KEY), KEY, "gw-1")
    with pytest.raises(MalformedError):
        verify_envelope(open_envelope(sign_ack(Ack("gw-1", (5,)), KEY)), KEY)


@given(body=st.binary(max_size=64), secret=SECRETS)
def test_refusal_tag_is_the_start_of_the_signature(body: bytes, secret: bytes) -> None:
    signed = json.loads(sign_body("gw-1", encode_batch(Batch("gw-1", 1, ())), secret))
    assert refusal_tag(encode_batch(Batch("gw-1", 1, ())), secret).hex() == signed["sig"][:16]
    assert len(refusal_tag(body, secret)) == TAG_BYTES


@pytest.mark.parametrize(
    "body",
    [
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[3, 2]], "no": []},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[1, 3], [2, 4]], "no": []},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[0, MAX_SETTLED]], "no": []},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[1, 1]], "no": [[1, "x", "00" * 8]]},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [], "no": [[1, "Bad Reason", "00" * 8]]},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [], "no": [[1, "x", "zz" * 8]]},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[-1, 1]], "no": []},
        {"v": 1, "kind": "ack", "gw": "g", "ok": [[True, 1]], "no": []},
        {"v": 2, "kind": "ack", "gw": "g", "ok": [], "no": []},
        {"v": 1, "kind": "batch", "gw": "g", "ok": [], "no": []},
        {"v": 1, "kind": "ack", "gw": "g", "ok": []},
    ],
)
def test_invalid_bodies_are_malformed(body: dict[str, object]) -> None:
    with pytest.raises(MalformedError):
        decode_ack(json.dumps(body).encode())


@given(value=json_values)
def test_any_json_is_an_ack_or_a_wire_error(value: object) -> None:
    with contextlib.suppress(WireError):
        decode_ack(dumps(value))


@given(data=st.binary(max_size=200))
def test_any_bytes_verify_or_raise_a_wire_error(data: bytes) -> None:
    with pytest.raises(WireError):
        verify_ack(data, OTHER, "gw-1")
