"""NB-IoT compact frame: round trip within resolution, size bound, refusals of every kind."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.strategies import QUALITIES, SECRETS
from wire import Batch, Quality, Reading
from wire.batch import MAX_SEQ, MAX_TIME_MS, MIN_TIME_MS
from wire.compact import (
    MAX_FRAME_BYTES,
    Channel,
    CompactAck,
    decode_compact,
    decode_compact_ack,
    encode_compact,
    encode_compact_ack,
    frame_gateway,
    table_digest,
)
from wire.errors import BadSignatureError, CompactError, WireError

SECRET = bytes(range(32))
T0 = 1_790_000_000_000  # 2026-09-21, whole seconds

# A soil station: moisture, temperature, EC, pH, N, P, K at 0.3 m, moisture and
# temperature at 0.6 m, and the battery: the 10 readings of one polling round.
SOIL = (
    Channel("soil1", "soil_moisture", 1),
    Channel("soil1", "soil_temperature", 1),
    Channel("soil1", "soil_conductivity", 0),
    Channel("soil1", "soil_ph", 2),
    Channel("soil1", "soil_nitrogen", 0),
    Channel("soil1", "soil_phosphorus", 0),
    Channel("soil1", "soil_potassium", 0),
    Channel("soil2", "soil_moisture", 1),
    Channel("soil2", "soil_temperature", 1),
    Channel("node", "battery_voltage", 2),
)
SOIL_VALUES = (23.4, 18.7, 1234, 6.85, 112, 38, 164, 27.9, 17.2, 3.61)


def soil_batch(seq: int = 4711) -> Batch:
    readings = tuple(
        Reading(c.device, c.quantity, T0, v) for c, v in zip(SOIL, SOIL_VALUES, strict=True)
    )
    return Batch("soil-07", seq, readings)


def test_soil_station_batch_of_10_readings_fits_in_64_bytes() -> None:
    frame = encode_compact(soil_batch(), SOIL, SECRET)
    assert len(frame) <= 64
    assert decode_compact(frame, SOIL, SECRET) == soil_batch()


@st.composite
def tables_and_batches(draw: st.DrawFn) -> tuple[tuple[Channel, ...], Batch]:
    count = draw(st.integers(1, 40))
    channels = tuple(Channel(f"d{i % 5}", f"q{i}", draw(st.integers(-3, 6))) for i in range(count))
    start = draw(st.integers(MIN_TIME_MS, MAX_TIME_MS - 10**9))
    readings = []
    for _ in range(draw(st.integers(0, 30))):
        channel = draw(st.sampled_from(channels))
        limit = 10.0 ** (12 - channel.decimals)
        value = draw(st.floats(-limit, limit, allow_nan=False) | st.integers(-1000, 1000))
        time_ms = start + draw(st.integers(0, 10**9) | st.sampled_from([0, 1000, 60_000]))
        readings.append(Reading(channel.device, channel.quantity, time_ms, value, draw(QUALITIES)))
    gateway = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True))
    return channels, Batch(gateway, draw(st.integers(0, MAX_SEQ)), tuple(readings))


@given(case=tables_and_batches(), secret=SECRETS)
def test_round_trip_within_resolution(
    case: tuple[tuple[Channel, ...], Batch], secret: bytes
) -> None:
    channels, batch = case
    try:
        frame = encode_compact(batch, channels, secret)
    except CompactError as exc:
        assert "at most 512" in exc.message  # noqa: PT017 - only the budget may refuse
        return
    assert len(frame) <= MAX_FRAME_BYTES
    assert frame_gateway(frame) == batch.gateway_id
    decoded = decode_compact(frame, channels, secret)
    assert (decoded.gateway_id, decoded.seq) == (batch.gateway_id, batch.seq)
    assert len(decoded.readings) == len(batch.readings)
    decimals = {(c.device, c.quantity): c.decimals for c in channels}
    for got, sent in zip(decoded.readings, batch.readings, strict=True):
        assert (got.device, got.quantity, got.time_ms, got.quality) == (
            sent.device,
            sent.quantity,
            sent.time_ms,
            sent.quality,
        )
        step = 10.0 ** -decimals[(sent.device, sent.quantity)]
        assert abs(got.value - sent.value) <= step / 2 + abs(sent.value) * 1e-12


@given(case=tables_and_batches())
def test_size_bound_per_reading(case: tuple[tuple[Channel, ...], Batch]) -> None:
    """Header + tag, then at most 3 + 10 bytes per reading (head, value; group time/count)."""
    channels, batch = case
    try:
        frame = encode_compact(batch, channels, SECRET)
    except CompactError:
        return
    bound = 1 + 1 + len(batch.gateway_id) + 2 + 9 + 9 + 2 + 8
    assert len(frame) <= bound + sum(2 + 10 + 10 + 2 for _ in batch.readings)


def test_every_truncation_is_refused() -> None:
    frame = encode_compact(soil_batch(), SOIL, SECRET)
    for cut in range(len(frame)):
        with pytest.raises(WireError, match=r"truncated|does not verify"):
            decode_compact(frame[:cut], SOIL, SECRET)


def test_every_single_byte_corruption_is_refused() -> None:
    frame = encode_compact(soil_batch(), SOIL, SECRET)
    for position in range(len(frame)):
        for flip in (0x01, 0x80, 0xFF):
            corrupt = bytearray(frame)
            corrupt[position] ^= flip
            with pytest.raises(WireError):
                decode_compact(bytes(corrupt), SOIL, SECRET)


def test_refusals_say_why() -> None:
    frame = encode_compact(soil_batch(), SOIL, SECRET)
    with pytest.raises(BadSignatureError, match="does not verify for gateway 'soil-07'"):
        decode_compact(frame, SOIL, bytes(32))
    with pytest.raises(CompactError, match="unknown compact frame version 2"):
        decode_compact(b"\x02" + frame[1:], SOIL, SECRET)
    with pytest.raises(CompactError, match="another channel table"):
        decode_compact(frame, SOIL[:-1], SECRET)
    with pytest.raises(CompactError, match="no channel for soil1/soil_ph"):
        encode_compact(soil_batch(), SOIL[:3], SECRET)
    huge = Batch("gw", 1, (Reading("soil1", "soil_ph", T0, 1e300),))
    with pytest.raises(CompactError, match="does not fit"):
        encode_compact(huge, SOIL, SECRET)


def test_quality_flags_and_times_going_backwards_survive() -> None:
    readings = tuple(
        Reading("soil1", "soil_moisture", T0 - i * 60_000, 20.0 + i, quality)
        for i, quality in enumerate(Quality)
    )
    batch = Batch("soil-07", 1, readings)
    assert decode_compact(encode_compact(batch, SOIL, SECRET), SOIL, SECRET) == batch


def test_many_channels_use_the_escape() -> None:
    channels = tuple(Channel("d", f"q{i}", 0) for i in range(300))
    batch = Batch("gw", 1, tuple(Reading("d", f"q{i}", T0, i) for i in (0, 30, 31, 299)))
    assert decode_compact(encode_compact(batch, channels, SECRET), channels, SECRET) == batch


def test_table_digest_depends_on_order_and_resolution() -> None:
    assert table_digest(SOIL) != table_digest(SOIL[::-1])
    assert table_digest(SOIL) != table_digest((Channel("soil1", "soil_moisture", 2), *SOIL[1:]))


@given(data=st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_compact(data, SOIL, SECRET)


@given(position=st.integers(0, 63), value=st.integers(0, 255), cut=st.integers(0, 64))
def test_fuzz_near_valid_frames_with_the_right_key(position: int, value: int, cut: int) -> None:
    """Re-signed after the change, so that fuzzing reaches the field checks behind the tag."""
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    frame = bytearray(encode_compact(soil_batch(), SOIL, SECRET)[:-8])
    frame[position % len(frame)] = value
    body = bytes(frame[: max(cut, 2)])
    signed = body + hmac.new(SECRET, body, hashlib.sha256).digest()[:8]
    try:
        batch = decode_compact(signed, SOIL, SECRET)
    except WireError:
        return
    assert isinstance(batch, Batch)


@given(seq=st.integers(0, MAX_SEQ), refused=st.booleans(), cut=st.integers(0, 40))
def test_ack_round_trip_and_truncation(seq: int, refused: bool, cut: int) -> None:
    ack = CompactAck("soil-07", seq, refused)
    data = encode_compact_ack(ack, SECRET)
    assert decode_compact_ack(data, SECRET) == ack
    if cut < len(data):
        with pytest.raises(WireError):
            decode_compact_ack(data[:cut], SECRET)
    with pytest.raises(BadSignatureError):
        decode_compact_ack(data, bytes(32))


@given(data=st.binary(max_size=60))
def test_fuzz_ack(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_compact_ack(data, SECRET)
