"""NB-IoT compact frame v1: one signed telemetry batch in one small UDP datagram.

Layer: sans-IO codec. ``encode_compact`` turns a :class:`wire.batch.Batch` into
bytes, ``decode_compact`` turns untrusted bytes back into a Batch or raises a
:class:`wire.errors.WireError` (``CompactError`` for anything malformed,
``BadSignatureError`` for a tag that does not verify).

Budget: a frame is at most **512 bytes** (``MAX_FRAME_BYTES``): what CoAP/LwM2M
platforms budget per NB-IoT uplink, well under the modules' per-send maximum
(BC28: 1358 bytes), and a single IP packet on every NB-IoT carrier. Each NB-IoT
byte costs airtime and battery, so the design goal is a soil station's batch of
10 readings in at most 64 bytes, signature included (``bench/b_compact.py``
prints the figure).

Both ends share a *channel table*: the ordered (device, quantity, decimals) of
the gateway's points, from its configuration. A reading names its channel by
index; its value is quantised to the channel's resolution (10^-decimals) and
sent as a zig-zag varint, so a value round-trips within half a resolution step.
A 2-byte digest of the table travels in every frame, so a gateway and a cloud
that disagree on the table refuse the frame instead of misfiling readings.

Layout (varint = unsigned LEB128, zvarint = zig-zag signed varint)::

    u8      version (1)
    u8+     gateway id length, then its ASCII bytes (the cloud finds the key by it)
    2       channel-table digest (SHA-256 of the table, first 2 bytes)
    varint  seq
    varint  time of the first group, ms since 2000-01-01T00:00:00Z
    varint  number of groups; each group is readings sharing one instant:
              zvarint  time - previous group's time, ms (0 for the first group)
              varint   number of readings, each:
                         u8  quality << 5 | channel  (31: escape, varint channel-31 follows)
                         zvarint  round(value * 10^decimals)
    8       tag: HMAC-SHA256(gateway secret, every byte before it), first 8 bytes

The tag is truncated to 8 bytes (64 bits): a forger must guess it, and each guess
costs a datagram over a radio that carries a few thousand a day, so 2^-64 per
try is ample (NIST SP 800-107 allows HMAC truncation to 64 bits and below for
such rates), while a full 32-byte tag alone would take half the 64-byte goal.
Replays are harmless: ingest is idempotent on (gateway, seq).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Sequence
from dataclasses import dataclass

from wire.batch import MIN_TIME_MS, Batch, Quality, Reading, check_gateway_id
from wire.errors import BadSignatureError, CompactError, MalformedError

VERSION = 1
STATUS_VERSION = 0x11  # a status frame (wire.compact_status): same header and tag
MAX_FRAME_BYTES = 512
TAG_BYTES = 8
DIGEST_BYTES = 2
MAX_DECIMALS = 9
MAX_CHANNELS = 1024
EPOCH_MS = MIN_TIME_MS  # 2000-01-01T00:00:00Z
_QUALITIES = tuple(Quality)  # index = the 3-bit code: N F M S D C T B
_MAX_QUANT = 2**62


@dataclass(frozen=True, slots=True)
class Channel:
    """One point of a gateway: device, quantity, and its resolution as decimals."""

    device: str
    quantity: str
    decimals: int = 1

    def __post_init__(self) -> None:
        Reading(self.device, self.quantity, EPOCH_MS, 0.0)  # same id rules as a reading
        if isinstance(self.decimals, bool) or not isinstance(self.decimals, int):
            raise CompactError("decimals must be an integer")
        if not -MAX_DECIMALS <= self.decimals <= MAX_DECIMALS:
            raise CompactError(f"decimals must be -{MAX_DECIMALS}..{MAX_DECIMALS}")


def table_digest(channels: Sequence[Channel]) -> bytes:
    """The 2-byte digest of a channel table carried by every frame."""
    text = "\n".join(f"{c.device}\0{c.quantity}\0{c.decimals}" for c in channels)
    return hashlib.sha256(text.encode()).digest()[:DIGEST_BYTES]


def encode_compact(batch: Batch, channels: Sequence[Channel], secret: bytes) -> bytes:
    """Encode and sign ``batch``; every reading must have a channel in ``channels``.

    Raises:
        CompactError: no channel for a reading, a value beyond its resolution's
            range, or a frame over ``MAX_FRAME_BYTES`` (send fewer readings).
    """
    _check_channels(channels)
    index = {(c.device, c.quantity): i for i, c in enumerate(channels)}
    out = bytearray([VERSION])
    gateway = batch.gateway_id.encode("ascii")
    out += bytes([len(gateway)]) + gateway + table_digest(channels)
    out += _varint(batch.seq)
    groups = _groups(batch.readings)
    out += _varint(groups[0][0].time_ms - EPOCH_MS if groups else 0)
    out += _varint(len(groups))
    previous = groups[0][0].time_ms if groups else 0
    for group in groups:
        out += _varint(_zigzag(group[0].time_ms - previous)) + _varint(len(group))
        previous = group[0].time_ms
        for reading in group:
            number = index.get((reading.device, reading.quantity))
            if number is None:
                raise CompactError(f"no channel for {reading.device}/{reading.quantity}")
            out += _reading(reading, number, channels[number].decimals)
    out += _tag(secret, bytes(out))
    if len(out) > MAX_FRAME_BYTES:
        raise CompactError(f"frame is {len(out)} bytes, at most {MAX_FRAME_BYTES}")
    return bytes(out)


def frame_gateway(data: bytes) -> str:
    """The gateway id a frame claims, read without trusting it (to look up the key).

    Raises:
        CompactError: not a v1 batch or status frame.
    """
    if not isinstance(data, bytes | bytearray):
        raise CompactError("a compact frame must be bytes")
    if len(data) > MAX_FRAME_BYTES:
        raise CompactError(f"frame is {len(data)} bytes, at most {MAX_FRAME_BYTES}")
    if len(data) < 2:
        raise CompactError(f"frame is {len(data)} bytes: truncated")
    if data[0] not in {VERSION, STATUS_VERSION}:
        raise CompactError(f"unknown compact frame version {data[0]}")
    end = 2 + data[1]
    if len(data) < end + DIGEST_BYTES + TAG_BYTES:
        raise CompactError("frame is truncated inside its header")
    try:
        return check_gateway_id(bytes(data[2:end]).decode("ascii"))
    except (UnicodeDecodeError, MalformedError):
        raise CompactError("frame carries an invalid gateway id") from None


def decode_compact(data: bytes, channels: Sequence[Channel], secret: bytes) -> Batch:
    """Verify the tag, then decode the batch.

    Raises:
        BadSignatureError: the tag does not verify (tampered, truncated, wrong key).
        CompactError: malformed, or made with another channel table.
    """
    gateway = frame_gateway(data)
    data = bytes(data)
    if data[0] != VERSION:
        raise CompactError("a status frame, not a batch (see wire.compact_status)")
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    if not hmac.compare_digest(_tag(secret, body), tag):
        raise BadSignatureError(f"compact frame tag does not verify for gateway {gateway!r}")
    reader = _Reader(body, 2 + len(gateway))
    if reader.take(DIGEST_BYTES) != table_digest(channels):
        raise CompactError("frame was made with another channel table than the cloud's")
    seq = reader.varint("seq")
    time_ms = EPOCH_MS + reader.varint("time")
    readings: list[Reading] = []
    for _ in range(reader.varint("group count")):
        time_ms += _unzigzag(reader.varint("group time"))
        for _ in range(reader.varint("reading count")):
            readings.append(_read_reading(reader, channels, time_ms))
    if reader.position != len(body):
        raise CompactError(f"{len(body) - reader.position} bytes left over after the readings")
    try:
        return Batch(gateway, seq, tuple(readings))
    except MalformedError as exc:
        raise CompactError(exc.message) from None


def _read_reading(reader: _Reader, channels: Sequence[Channel], time_ms: int) -> Reading:
    head = reader.take(1)[0]
    number = head & 0x1F
    if number == 31:
        number += reader.varint("channel")
    if number >= len(channels):
        raise CompactError(f"channel {number} is not in the table of {len(channels)}")
    channel = channels[number]
    quantised = _unzigzag(reader.varint("value"))
    decimals = channel.decimals
    value = (
        round(quantised / 10**decimals, decimals) if decimals >= 0 else quantised * 10**-decimals
    )
    try:
        return Reading(
            channel.device, channel.quantity, time_ms, float(value), _QUALITIES[head >> 5]
        )
    except MalformedError as exc:
        raise CompactError(exc.message) from None


def _reading(reading: Reading, number: int, decimals: int) -> bytes:
    scaled = reading.value * 10**decimals
    if not math.isfinite(scaled) or abs(scaled) >= _MAX_QUANT:
        raise CompactError(f"{reading.quantity}={reading.value} does not fit at 1e-{decimals}")
    quality = _QUALITIES.index(reading.quality) << 5
    head = (
        bytes([quality | number]) if number < 31 else bytes([quality | 31]) + _varint(number - 31)
    )
    return head + _varint(_zigzag(round(scaled)))


def _groups(readings: tuple[Reading, ...]) -> list[list[Reading]]:
    groups: list[list[Reading]] = []
    for reading in readings:
        if groups and groups[-1][0].time_ms == reading.time_ms:
            groups[-1].append(reading)
        else:
            groups.append([reading])
    return groups


def _check_channels(channels: Sequence[Channel]) -> None:
    if len(channels) > MAX_CHANNELS:
        raise CompactError(f"{len(channels)} channels, at most {MAX_CHANNELS}")
    if len({(c.device, c.quantity) for c in channels}) != len(channels):
        raise CompactError("a device/quantity appears twice in the channel table")


def _tag(secret: bytes, body: bytes) -> bytes:
    if not isinstance(secret, bytes) or len(secret) < 16:
        raise ValueError("gateway secret must be at least 16 bytes")
    return hmac.new(secret, body, hashlib.sha256).digest()[:TAG_BYTES]


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(value: int) -> int:
    return value * 2 if value >= 0 else -value * 2 - 1


def _unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -(value >> 1) - 1


class _Reader:
    def __init__(self, data: bytes, position: int) -> None:
        self.data = data
        self.position = position

    def take(self, count: int) -> bytes:
        end = self.position + count
        if end > len(self.data):
            raise CompactError("frame is truncated")
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def varint(self, what: str) -> int:
        value = shift = 0
        while True:
            if self.position >= len(self.data):
                raise CompactError(f"frame is truncated inside {what}")
            byte = self.data[self.position]
            self.position += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise CompactError(f"{what} is longer than 64 bits")


ACK_VERSION = 0x81
ACK_COMMITTED = 0
ACK_REFUSED = 1


@dataclass(frozen=True, slots=True)
class CompactAck:
    """The cloud's signed answer to one frame, sent after the commit.

    ``refused`` means the batch was deliberately refused (kept as a dead letter):
    the gateway drops it from its outbox all the same.
    """

    gateway_id: str
    seq: int
    refused: bool = False


def encode_compact_ack(ack: CompactAck, secret: bytes) -> bytes:
    """``0x81``, gateway id, varint seq, status byte, 8-byte tag (as in a frame)."""
    gateway = check_gateway_id(ack.gateway_id).encode("ascii")
    body = bytes([ACK_VERSION, len(gateway)]) + gateway + _varint(ack.seq)
    body += bytes([ACK_REFUSED if ack.refused else ACK_COMMITTED])
    return body + _tag(secret, body)


def decode_compact_ack(data: bytes, secret: bytes) -> CompactAck:
    """Verify and read an acknowledgement datagram.

    Raises:
        BadSignatureError: the tag does not verify.
        CompactError: not an acknowledgement.
    """
    if not isinstance(data, bytes | bytearray) or len(data) < 2 + 2 + TAG_BYTES:
        raise CompactError("acknowledgement is truncated")
    data = bytes(data)
    if data[0] != ACK_VERSION:
        raise CompactError(f"not an acknowledgement (first byte {data[0]:#x})")
    body, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    if not hmac.compare_digest(_tag(secret, body), tag):
        raise BadSignatureError("acknowledgement tag does not verify")
    reader = _Reader(body, 2 + data[1])
    try:
        gateway = check_gateway_id(body[2 : 2 + data[1]].decode("ascii"))
    except (UnicodeDecodeError, MalformedError):
        raise CompactError("acknowledgement carries an invalid gateway id") from None
    seq = reader.varint("seq")
    status = reader.take(1)[0]
    if status not in (ACK_COMMITTED, ACK_REFUSED) or reader.position != len(body):
        raise CompactError("acknowledgement has a bad status or trailing bytes")
    return CompactAck(gateway, seq, status == ACK_REFUSED)
