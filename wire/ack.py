"""The cloud's acknowledgement: which batches of one gateway are settled, and how.

Layer: sans-IO codec. The ingest worker builds an :class:`Ack` after its commit
(or dead letter) and signs it with the gateway's own secret; the gateway
verifies it with the same secret before it deletes anything, so a forged ack
changes nothing. One ack settles many batches, so acks cost little::

    {"v": 1, "kind": "ack", "gw": "gw-001",
     "ok": [[40, 45], [47, 47]],                 committed (or already stored): ranges
     "no": [[46, "unknown_quantity", "<16 hex>"]]}  refused: seq, reason, tag

It travels in the same HMAC envelope as a telemetry batch (see
:mod:`wire.signing`); ``"kind": "ack"`` keeps an ack body from ever decoding as
a batch and the other way round.

A refusal's ``tag`` is the first :data:`TAG_BYTES` bytes of the signature the
cloud received with that batch. The gateway recomputes the signature of what it
holds under its current secret and compares: a ``bad_signature`` refusal whose
tag differs was about a copy signed with an older secret (or forged by someone
else on the topic), and the answer is to re-sign and re-send, not to give up.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from wire.batch import MAX_SEQ, check_gateway_id, parse_json_object
from wire.errors import BadSignatureError, MalformedError
from wire.signing import open_envelope, sign_body, signature

VERSION = 1
KIND = "ack"
TAG_BYTES = 8
# Bounds what one (signed, hence trusted) ack can make a gateway do or allocate.
MAX_SETTLED = 100_000
MAX_RANGES = 10_000
MAX_REFUSALS = 1_000
_REASON = re.compile(r"[a-z][a-z0-9_]{0,39}")


@dataclass(frozen=True, slots=True)
class Refusal:
    """A batch the cloud will never store as sent, and why (a dead-letter reason)."""

    seq: int
    reason: str
    tag: bytes

    def __post_init__(self) -> None:
        _check_seq(self.seq)
        if not isinstance(self.reason, str) or not _REASON.fullmatch(self.reason):
            raise MalformedError(f"refusal reason {self.reason!r} must be a short lower_case code")
        if not isinstance(self.tag, bytes) or len(self.tag) != TAG_BYTES:
            raise MalformedError(f"refusal tag must be {TAG_BYTES} bytes")


@dataclass(frozen=True, slots=True)
class Ack:
    """Batches of ``gateway_id`` that the cloud has settled.

    Attributes:
        gateway_id: whose batches.
        committed: seqs stored (now or before), ascending, without repeats.
        refused: batches dead-lettered, ascending by seq, none also committed.
    """

    gateway_id: str
    committed: tuple[int, ...] = ()
    refused: tuple[Refusal, ...] = ()

    def __post_init__(self) -> None:
        check_gateway_id(self.gateway_id)
        for seq in self.committed:
            _check_seq(seq)
        if list(self.committed) != sorted(set(self.committed)):
            raise MalformedError("committed seqs must ascend without repeats")
        if len(self.committed) > MAX_SETTLED:
            raise MalformedError(f"{len(self.committed)} committed seqs, at most {MAX_SETTLED}")
        seqs = [r.seq for r in self.refused]
        if seqs != sorted(set(seqs)) or set(seqs) & set(self.committed):
            raise MalformedError("refused seqs must ascend, once each, and not be committed")
        if len(self.refused) > MAX_REFUSALS:
            raise MalformedError(f"{len(self.refused)} refusals, at most {MAX_REFUSALS}")

    @property
    def seqs(self) -> tuple[int, ...]:
        """Every settled seq, committed or refused."""
        return tuple(sorted(self.committed + tuple(r.seq for r in self.refused)))


def refusal_tag(body: bytes, secret: bytes) -> bytes:
    """The tag a refusal carries when ``body`` was signed with ``secret``."""
    return signature(body, secret)[:TAG_BYTES]


def encode_ack(ack: Ack) -> bytes:
    """The ack body as compact JSON (unsigned)."""
    body = {
        "v": VERSION,
        "kind": KIND,
        "gw": ack.gateway_id,
        "ok": _ranges(ack.committed),
        "no": [[r.seq, r.reason, r.tag.hex()] for r in ack.refused],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def decode_ack(data: bytes) -> Ack:
    """Parse an ack body (already verified, or trusted).

    Raises:
        MalformedError: not a valid v1 ack body.
    """
    obj = parse_json_object(data, "ack")
    if obj.keys() != {"v", "kind", "gw", "ok", "no"}:
        raise MalformedError("ack keys must be gw, kind, no, ok, v")
    if type(obj["v"]) is not int or obj["v"] != VERSION or obj["kind"] != KIND:
        raise MalformedError(f"unsupported ack v={obj['v']!r} kind={obj['kind']!r}")
    return Ack(obj["gw"], _expand(obj["ok"]), _refusals(obj["no"]))


def sign_ack(ack: Ack, secret: bytes) -> bytes:
    """Encode ``ack`` and sign it with the gateway's ``secret``."""
    return sign_body(ack.gateway_id, encode_ack(ack), secret)


def verify_ack(data: bytes, secret: bytes, gateway_id: str) -> Ack:
    """Open, verify and decode an ack meant for ``gateway_id``.

    Raises:
        UnsignedError: no signature.
        BadSignatureError: the signature does not verify with ``secret`` (forged,
            or signed with another secret).
        MalformedError: not a valid ack, or an ack for another gateway.
    """
    signed = open_envelope(data)
    if not hmac.compare_digest(signature(signed.body, secret), signed.signature):
        raise BadSignatureError(f"ack signature does not verify for gateway {gateway_id!r}")
    ack = decode_ack(signed.body)
    if ack.gateway_id != gateway_id or signed.gateway_id != gateway_id:
        raise MalformedError(f"ack names gateway {ack.gateway_id!r}, expected {gateway_id!r}")
    return ack


def _check_seq(seq: object) -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq <= MAX_SEQ:
        raise MalformedError(f"seq {seq!r} must be an integer in 0..2^63-1")


def _ranges(seqs: tuple[int, ...]) -> list[list[int]]:
    ranges: list[list[int]] = []
    for seq in seqs:
        if ranges and ranges[-1][1] + 1 == seq:
            ranges[-1][1] = seq
        else:
            ranges.append([seq, seq])
    return ranges


def _expand(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_RANGES:
        raise MalformedError(f"'ok' must be a list of at most {MAX_RANGES} [first, last] ranges")
    seqs: list[int] = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 2:
            raise MalformedError("'ok' ranges must be [first, last]")
        first, last = item
        _check_seq(first)
        _check_seq(last)
        if last < first or (seqs and first <= seqs[-1]):
            raise MalformedError("'ok' ranges must ascend and not overlap")
        if len(seqs) + last - first + 1 > MAX_SETTLED:
            raise MalformedError(f"an ack settles at most {MAX_SETTLED} batches")
        seqs.extend(range(first, last + 1))
    return tuple(seqs)


def _refusals(raw: Any) -> tuple[Refusal, ...]:
    if not isinstance(raw, list) or len(raw) > MAX_REFUSALS:
        raise MalformedError(f"'no' must be a list of at most {MAX_REFUSALS} refusals")
    refusals = []
    for item in raw:
        if not isinstance(item, list) or len(item) != 3 or not isinstance(item[2], str):
            raise MalformedError("a refusal must be [seq, reason, tag]")
        seq, reason, tag = item
        if len(tag) != 2 * TAG_BYTES:
            raise MalformedError(f"a refusal tag must be {2 * TAG_BYTES} hex digits")
        try:
            tag_bytes = bytes.fromhex(tag)
        except ValueError:
            raise MalformedError(f"a refusal tag must be {2 * TAG_BYTES} hex digits") from None
        refusals.append(Refusal(seq, reason, tag_bytes))
    return tuple(refusals)
