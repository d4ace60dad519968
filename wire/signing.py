"""HMAC-SHA256 envelope around an encoded batch.

Layer: sans-IO. The signature covers the exact body bytes, so no canonical JSON
is needed and a MicroPython node can sign what it sends. The envelope is JSON
too, with the body carried as a string::

    {"v": 1, "alg": "HS256", "gw": "gw-001", "sig": "<64 hex>", "body": "{...batch...}"}

Verification order: open the envelope (untrusted; gives the gateway id to look
the secret up by), then :func:`verify_envelope` checks the HMAC in constant time
and only then decodes the batch and checks that the body names the same gateway.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from wire.batch import Batch, check_gateway_id, decode_batch, encode_batch, parse_json_object
from wire.errors import BadSignatureError, MalformedError, UnsignedError

ENVELOPE_VERSION = 1
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 16


@dataclass(frozen=True, slots=True)
class SignedBatch:
    """An opened but not yet verified envelope."""

    gateway_id: str
    signature: bytes
    body: bytes


def sign_batch(batch: Batch, secret: bytes) -> bytes:
    """Encode ``batch`` and wrap it in an envelope signed with ``secret``."""
    return sign_body(batch.gateway_id, encode_batch(batch), secret)


def sign_body(gateway_id: str, body: bytes, secret: bytes) -> bytes:
    """Wrap already encoded ``body`` (UTF-8 JSON) in an envelope signed with ``secret``.

    The edge keeps encoded, unsigned batches in its outbox and signs them when
    it sends, with whatever secret is current then.
    """
    _check_secret(secret)
    return _envelope(gateway_id, signature(body, secret).hex(), body)


def signature(body: bytes, secret: bytes) -> bytes:
    """The HMAC-SHA256 of ``body`` under ``secret`` (what ``sig`` holds, as bytes)."""
    return _mac(secret, body)


def envelope_size(gateway_id: str, body: bytes) -> int:
    """Bytes of the envelope :func:`sign_body` makes of ``body``, whatever the secret."""
    return len(_envelope(gateway_id, "0" * 64, body))


def _envelope(gateway_id: str, sig_hex: str, body: bytes) -> bytes:
    envelope = {
        "v": ENVELOPE_VERSION,
        "alg": ALGORITHM,
        "gw": gateway_id,
        "sig": sig_hex,
        "body": body.decode(),
    }
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def open_envelope(data: bytes) -> SignedBatch:
    """Parse the envelope without trusting it.

    Raises:
        UnsignedError: the message is a bare batch, or its signature is empty.
        MalformedError: the envelope is not valid.
    """
    obj = parse_json_object(data, "message")
    if "sig" not in obj or obj.get("sig") in ("", None):
        raise UnsignedError("message carries no signature")
    expected = {"v", "alg", "gw", "sig", "body"}
    if obj.keys() != expected:
        raise MalformedError(f"envelope keys must be {', '.join(sorted(expected))}")
    if type(obj["v"]) is not int or obj["v"] != ENVELOPE_VERSION or obj["alg"] != ALGORITHM:
        raise MalformedError(f"unsupported envelope v={obj['v']!r} alg={obj['alg']!r}")
    gateway_id = check_gateway_id(obj["gw"])
    sig, body = obj["sig"], obj["body"]
    if not isinstance(sig, str) or len(sig) != 64:
        raise MalformedError("sig must be 64 hex digits")
    try:
        signature = bytes.fromhex(sig)
    except ValueError:
        raise MalformedError("sig must be 64 hex digits") from None
    if not isinstance(body, str):
        raise MalformedError("body must be a string")
    try:
        body_bytes = body.encode()
    except UnicodeEncodeError:
        raise MalformedError("body is not valid Unicode (lone surrogate)") from None
    return SignedBatch(gateway_id=gateway_id, signature=signature, body=body_bytes)


def verify_envelope(signed: SignedBatch, secret: bytes) -> Batch:
    """Check the signature, then decode the body.

    Raises:
        BadSignatureError: the HMAC does not match (tampered, or the wrong key).
        MalformedError: the signed body is not a valid batch, or names another gateway.
    """
    if not hmac.compare_digest(_mac(secret, signed.body), signed.signature):
        raise BadSignatureError(f"signature does not verify for gateway {signed.gateway_id!r}")
    batch = decode_batch(signed.body)
    if batch.gateway_id != signed.gateway_id:
        raise MalformedError(
            f"body names gateway {batch.gateway_id!r}, envelope {signed.gateway_id!r}"
        )
    return batch


def _mac(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, body, hashlib.sha256).digest()


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"gateway secret must be at least {MIN_SECRET_BYTES} bytes")


_SIGNED_OBJECT = re.compile(rb'(\{.*\S),"sig":"([0-9a-f]{64})"\}', re.DOTALL)


def sign_object(body: bytes, secret: bytes) -> bytes:
    """Sign a compact JSON object in place: ``{...,"sig":"<hmac of the unsigned bytes>"}``.

    For messages that must stay plain JSON for their readers (the gateway's
    ``up/status``): the signature covers the exact bytes of ``body``, which
    :func:`verify_object` recovers by cutting the ``sig`` member off the end.
    """
    _check_secret(secret)
    if not body.startswith(b"{") or not body.endswith(b"}") or body == b"{}":
        raise ValueError("only a non-empty JSON object can be signed in place")
    return body[:-1] + b',"sig":"' + _mac(secret, body).hex().encode() + b'"}'


def verify_object(data: bytes, secret: bytes) -> bytes:
    """The unsigned bytes of an object signed by :func:`sign_object`, if the HMAC verifies.

    Raises:
        UnsignedError: no ``sig`` member at the end.
        BadSignatureError: the signature does not verify with ``secret``.
    """
    match = _SIGNED_OBJECT.fullmatch(data)
    if match is None:
        raise UnsignedError("message carries no signature")
    body = match[1] + b"}"
    if not hmac.compare_digest(_mac(secret, body), bytes.fromhex(match[2].decode())):
        raise BadSignatureError("signature does not verify")
    return body
