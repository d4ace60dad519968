"""NB-IoT compact status frame: round trip, size, refusals; told apart from batch frames."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.strategies import SECRETS
from tests.wire.test_compact import SECRET, SOIL, T0, soil_batch
from wire.batch import MAX_TIME_MS, MIN_TIME_MS
from wire.compact import Channel, decode_compact, encode_compact, frame_gateway
from wire.compact_status import (
    COUNTERS,
    DEVICE_STATES,
    CompactStatus,
    decode_compact_status,
    encode_compact_status,
    is_status_frame,
    table_devices,
)
from wire.errors import BadSignatureError, CompactError, WireError


def soil_status(**changes: object) -> CompactStatus:
    fields: dict[str, object] = {
        "gateway_id": "soil-07",
        "time_ms": T0,
        "devices": {"soil1": "ok", "soil2": "degraded", "node": "unknown"},
        "counters": dict.fromkeys(COUNTERS, 0) | {"pending_readings": 12, "uptime_s": 86_400},
        "oldest_unsent_age_s": 42,
        "clock_synced": True,
        "signal": {"csq": 14, "rssi_dbm": -85, "rsrp_dbm": -97},
    }
    return CompactStatus(**(fields | changes))  # type: ignore[arg-type]


def test_a_soil_station_status_is_small_and_round_trips() -> None:
    frame = encode_compact_status(soil_status(), SOIL, SECRET)
    assert len(frame) <= 40
    assert is_status_frame(frame)
    assert frame_gateway(frame) == "soil-07"
    assert decode_compact_status(frame, SOIL, SECRET) == soil_status()


@st.composite
def statuses(draw: st.DrawFn) -> tuple[tuple[Channel, ...], CompactStatus]:
    devices = draw(
        st.lists(
            st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True),
            min_size=1,
            max_size=12,
            unique=True,
        )
    )
    channels = tuple(Channel(d, "air_temperature") for d in devices)
    signal = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "csq": st.integers(0, 99),
                "rssi_dbm": st.integers(-254, 0),
                "rsrp_dbm": st.integers(-254, 0),
            },
        )
    )
    status = CompactStatus(
        gateway_id=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        time_ms=draw(st.integers(MIN_TIME_MS, MAX_TIME_MS)),
        online=draw(st.booleans()),
        devices={d: draw(st.sampled_from(DEVICE_STATES)) for d in devices},
        counters={c: draw(st.integers(0, 2**40)) for c in COUNTERS},
        oldest_unsent_age_s=draw(st.none() | st.integers(0, 2**40)),
        clock_synced=draw(st.none() | st.booleans()),
        signal=signal,
    )
    return channels, status


@given(statuses(), SECRETS)
def test_every_status_round_trips(
    drawn: tuple[tuple[Channel, ...], CompactStatus], secret: bytes
) -> None:
    channels, status = drawn
    assert (
        decode_compact_status(encode_compact_status(status, channels, secret), channels, secret)
        == status
    )


@given(statuses(), st.data())
def test_any_flipped_bit_is_refused(
    drawn: tuple[tuple[Channel, ...], CompactStatus], data: st.DataObject
) -> None:
    channels, status = drawn
    frame = bytearray(encode_compact_status(status, channels, SECRET))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(WireError):
        decode_compact_status(bytes(frame), channels, SECRET)


def test_devices_are_those_of_the_table_and_missing_ones_are_unknown() -> None:
    assert table_devices(SOIL) == ("soil1", "soil2", "node")
    status = soil_status(devices={"soil2": "ok", "elsewhere": "degraded"})
    decoded = decode_compact_status(encode_compact_status(status, SOIL, SECRET), SOIL, SECRET)
    assert decoded.devices == {"soil1": "unknown", "soil2": "ok", "node": "unknown"}


def test_refusals() -> None:
    frame = encode_compact_status(soil_status(), SOIL, SECRET)
    with pytest.raises(BadSignatureError):
        decode_compact_status(frame, SOIL, bytes(32))
    other = (*SOIL[:-1], Channel("node", "battery_voltage", 3))
    with pytest.raises(CompactError, match="another channel table"):
        decode_compact_status(frame, other, SECRET)
    with pytest.raises(CompactError, match="status frame, not a batch"):
        decode_compact(frame, SOIL, SECRET)
    with pytest.raises(CompactError, match="not a status frame"):
        decode_compact_status(encode_compact(soil_batch(), SOIL, SECRET), SOIL, SECRET)
    with pytest.raises(CompactError, match="unknown state"):
        encode_compact_status(soil_status(devices={"soil1": "on fire"}), SOIL, SECRET)
    with pytest.raises(CompactError, match="non-negative"):
        encode_compact_status(soil_status(counters={"uptime_s": -1}), SOIL, SECRET)
    with pytest.raises(CompactError, match="csq"):
        encode_compact_status(soil_status(signal={"csq": 120}), SOIL, SECRET)
    with pytest.raises(CompactError, match="before 2000"):
        encode_compact_status(soil_status(time_ms=0), SOIL, SECRET)
