"""Telemetry batch v1: round trips, and refusals that say why."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given

from tests.wire.strategies import batches, mixed_batches
from wire import (
    MAX_BATCH_BYTES,
    MAX_READINGS,
    Batch,
    MalformedError,
    Quality,
    Reading,
    WireError,
    decode_batch,
    encode_batch,
)
from wire.batch import MAX_SEQ, MAX_TIME_MS, MIN_TIME_MS

T0 = 1_700_000_000_000
GOOD: dict[str, Any] = {
    "v": 1,
    "gw": "gw-001",
    "seq": 42,
    "r": [["th1", "air_temperature", T0, 21.5, "N"], ["th1", "relative_humidity", T0, 65.8, "M"]],
}


def _with(**changes: Any) -> bytes:
    return json.dumps(GOOD | changes).encode()


def _with_reading(index: int, position: int, value: Any) -> bytes:
    readings = [list(r) for r in GOOD["r"]]
    readings[index][position] = value
    return _with(r=readings)


# --- round trips ----------------------------------------------------------------------


@given(batch=batches)
def test_round_trip(batch: Batch) -> None:
    data = encode_batch(batch)
    assert decode_batch(data) == batch
    assert encode_batch(decode_batch(data)) == data


@given(batch=batches)
def test_encoding_is_compact_json(batch: Batch) -> None:
    data = encode_batch(batch)
    obj = json.loads(data)
    assert obj.keys() == {"v", "gw", "seq", "r"}
    assert obj["v"] == 1
    assert b" " not in data  # compact separators; ids and numbers hold no spaces
    assert len(obj["r"]) == len(batch.readings)


def test_example_from_the_docstring() -> None:
    data = b'{"v":1,"gw":"gw-001","seq":42,"r":[["th1","air_temperature",1700000000000,21.5,"N"]]}'
    batch = decode_batch(data)
    assert batch == Batch("gw-001", 42, (Reading("th1", "air_temperature", T0, 21.5),))
    assert encode_batch(batch) == data


def test_decode_accepts_bytearray_and_memoryview() -> None:
    data = encode_batch(decode_batch(_with()))
    batch = decode_batch(data)
    assert decode_batch(bytearray(data)) == batch  # type: ignore[arg-type]
    assert decode_batch(memoryview(data)) == batch  # type: ignore[arg-type]


def test_empty_batch_round_trips() -> None:
    batch = Batch("gw-1", 0, ())
    assert decode_batch(encode_batch(batch)) == batch


def test_limits_round_trip() -> None:
    readings = (
        Reading("a" * 64, "Z" * 64, MIN_TIME_MS, -1.7976931348623157e308, Quality.COMMS_FAULT),
        Reading("0", "q.x:y-z_", MAX_TIME_MS, 5e-324, Quality.OVER_RANGE),
        Reading("d", "q", T0, -0.0),
    )
    batch = Batch("g" * 64, MAX_SEQ, readings)
    assert decode_batch(encode_batch(batch)) == batch


def test_max_readings_round_trip() -> None:
    batch = Batch("gw", 1, tuple(Reading("d", "q", T0 + i, float(i)) for i in range(MAX_READINGS)))
    data = encode_batch(batch)
    assert len(data) <= MAX_BATCH_BYTES
    assert decode_batch(data) == batch


# --- quality flags --------------------------------------------------------------------


def test_quality_flags_are_the_hj212_data_flags() -> None:
    """DESIGN.md and FACTS.md §1.8: N F M S D C T B, one-to-one."""
    assert {q.value for q in Quality} == set("NFMSDCTB")
    assert len(Quality) == 8
    assert {q.name: q.value for q in Quality} == {
        "NORMAL": "N",
        "STOPPED": "F",
        "MAINTENANCE": "M",
        "MANUAL": "S",
        "FAULT": "D",
        "CALIBRATION": "C",
        "OVER_RANGE": "T",
        "COMMS_FAULT": "B",
    }


@pytest.mark.parametrize("quality", list(Quality))
def test_each_flag_round_trips(quality: Quality) -> None:
    data = _with_reading(0, 4, quality.value)
    assert decode_batch(data).readings[0].quality is quality


# --- refusals -------------------------------------------------------------------------


def _malformed(data: Any, match: str) -> MalformedError:
    with pytest.raises(MalformedError, match=match) as info:
        decode_batch(data)
    assert info.value.reason == "malformed"
    assert info.value.message == str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("data", "match"),
    [
        # NaN and Infinity are not JSON, however Python's json module writes them
        (_with_reading(0, 3, "NAN").replace(b'"NAN"', b"NaN"), "NaN is not a valid value"),
        (_with_reading(0, 3, "INF").replace(b'"INF"', b"Infinity"), "Infinity is not a valid"),
        (_with_reading(0, 3, "INF").replace(b'"INF"', b"-Infinity"), "-Infinity is not a valid"),
        (_with_reading(0, 3, "INF").replace(b'"INF"', b"1e400"), "reading 0: value must be finite"),
        (_with_reading(0, 3, 10**400), "reading 0: value is too large"),
        # bools are not numbers
        (_with_reading(1, 3, True), "reading 1: value must be a number, got bool"),
        (_with_reading(0, 2, False), "reading 0: time_ms must be an integer"),
        (_with(seq=True), "seq must be an integer"),
        (_with(v=True), "unsupported batch version True"),
        # wrong types
        (_with_reading(0, 3, "21.5"), "reading 0: value must be a number, got str"),
        (_with_reading(0, 3, None), "reading 0: value must be a number, got NoneType"),
        (_with_reading(0, 2, float(T0)), "reading 0: time_ms must be an integer"),
        (_with(v=1.0), "unsupported batch version 1.0"),
        (_with(v=2), "unsupported batch version 2"),
        (_with(r={}), "'r' must be a list of readings"),
        (
            _with(r=[{"device": "d"}]),
            r"reading 0: expected \[device, quantity, time_ms, value, flag\(, mean_of\)\]",
        ),
        (_with(r=[["d", "q", T0, 1.0]]), "reading 0: expected"),
        (_with(r=[["d", "q", T0, 1.0, "N", "extra"]]), "reading 0: mean_of must be an integer"),
        (_with(r=[["d", "q", T0, 1.0, "N", 2, 3]]), "reading 0: expected"),
        # bad seq
        (_with(seq=-1), "seq -1 outside 0..2"),
        (_with(seq=2**63), "seq 9223372036854775808 outside"),
        (_with(seq=1.5), "seq must be an integer"),
        (_with(seq="1"), "seq must be an integer"),
        (_with(seq=None), "seq must be an integer"),
        # unknown keys and flags, missing keys
        (_with(x=1), "batch has unknown keys x"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "seq"}).encode(), "batch lacks seq"),
        (b"{}", "batch lacks gw, r, seq, v"),
        (_with_reading(0, 4, "X"), "reading 0: unknown quality flag 'X'"),
        (_with_reading(1, 4, "n"), "reading 1: unknown quality flag 'n'"),
        (_with_reading(0, 4, "NORMAL"), "unknown quality flag 'NORMAL'"),
        (_with_reading(0, 4, None), "unknown quality flag None"),
        (_with_reading(0, 4, ["N"]), r"unknown quality flag \['N'\]"),
        # ids and times
        (_with(gw=""), "gateway id '' must be 1-64 characters"),
        (_with(gw="gw 1"), "gateway id 'gw 1' must be"),
        (_with(gw="g" * 65), "gateway id"),
        (_with(gw="-gw"), "gateway id '-gw'"),
        (_with(gw="gw\n"), "gateway id"),
        (_with(gw="网关"), "gateway id"),
        (_with(gw=1), "gateway id 1 must be"),
        (_with_reading(0, 0, "th/1"), "reading 0: device 'th/1' must be"),
        (_with_reading(1, 1, ""), "reading 1: quantity '' must be"),
        (
            _with_reading(0, 2, MIN_TIME_MS - 1),
            "reading 0: time_ms 946684799999 outside years 2000-2100",
        ),
        (_with_reading(0, 2, MAX_TIME_MS + 1), "outside years 2000-2100"),
        (_with_reading(0, 2, T0 // 1000), "outside years 2000-2100"),  # seconds, not ms
        # not a batch at all
        (b"", "batch is not valid JSON"),
        (b"\xff\xfe\x00", "batch is not valid JSON"),
        (b'{"v":1', "batch is not valid JSON"),
        (b"[]", "batch must be a JSON object"),
        (b'"batch"', "batch must be a JSON object"),
        (b"1" * 5000, "batch is not valid JSON"),  # beyond Python's int-string limit
        (b"[" * 100_000, "batch is nested too deeply"),
        ('{"v":1}', "batch must be bytes"),
        (None, "batch must be bytes"),
    ],
)
def test_malformed_batches_say_why(data: Any, match: str) -> None:
    _malformed(data, match)


def test_oversize_payload() -> None:
    readings = [["d", "q", T0, 1.0, "N"]] * 10
    data = _with(r=readings, pad=" " * MAX_BATCH_BYTES)
    _malformed(data, f"batch is {len(data)} bytes, at most {MAX_BATCH_BYTES}")


def test_payload_at_the_size_limit_is_parsed() -> None:
    data = _with()
    data = data[:-1] + b" " * (MAX_BATCH_BYTES - len(data)) + b"}"
    assert len(data) == MAX_BATCH_BYTES
    assert decode_batch(data).seq == 42


def test_too_many_readings() -> None:
    data = _with(r=[["d", "q", T0, 1.0, "N"]] * (MAX_READINGS + 1))
    assert len(data) < MAX_BATCH_BYTES
    _malformed(data, f"{MAX_READINGS + 1} readings, at most {MAX_READINGS}")


def test_error_names_the_reading() -> None:
    readings = [["d", "q", T0 + i, 1.0, "N"] for i in range(10)]
    readings[7][4] = "?"
    _malformed(_with(r=readings), "^reading 7: unknown quality flag '\\?'$")


def test_malformed_is_a_wire_error_and_a_value_error() -> None:
    error = _malformed(b"nope", "not valid JSON")
    assert isinstance(error, WireError)
    assert isinstance(error, ValueError)


# --- the dataclasses check themselves -------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"value": float("nan")}, "value must be finite"),
        ({"value": float("inf")}, "value must be finite"),
        ({"value": True}, "value must be a number, got bool"),
        ({"value": "1"}, "value must be a number, got str"),
        ({"quality": "N"}, "quality must be a Quality"),
        ({"device": "a b"}, "device 'a b'"),
        ({"time_ms": 0}, "outside years 2000-2100"),
    ],
)
def test_reading_refuses(kwargs: dict[str, Any], match: str) -> None:
    fields: dict[str, Any] = {"device": "d", "quantity": "q", "time_ms": T0, "value": 1.0} | kwargs
    with pytest.raises(MalformedError, match=match):
        Reading(**fields)


def test_batch_refuses_too_many_readings() -> None:
    reading = Reading("d", "q", T0, 1.0)
    with pytest.raises(MalformedError, match=f"at most {MAX_READINGS}"):
        Batch("gw", 1, (reading,) * (MAX_READINGS + 1))


@pytest.mark.parametrize(
    ("seq", "match"),
    [
        (-1, "outside"),
        (2**63, "outside"),
        (True, "must be an integer"),
        (1.0, "must be an integer"),
    ],
)
def test_batch_refuses_bad_seq(seq: Any, match: str) -> None:
    with pytest.raises(MalformedError, match=match):
        Batch("gw", seq, ())


# --- thinned readings (means) ------------------------------------------------------------


@given(batch=mixed_batches)
def test_means_round_trip_and_raw_readings_keep_five_elements(batch: Batch) -> None:
    data = encode_batch(batch)
    assert decode_batch(data) == batch
    assert encode_batch(decode_batch(data)) == data
    for reading, item in zip(batch.readings, json.loads(data)["r"], strict=True):
        assert len(item) == (6 if reading.thinned else 5)
        if reading.thinned:
            assert item[5] == reading.mean_of


@given(batch=batches)
def test_a_batch_without_means_is_what_a_cloud_of_before_reads(batch: Batch) -> None:
    """Backward compatible: raw readings encode exactly as the five-element v1 readings."""
    old_style = {
        "v": 1,
        "gw": batch.gateway_id,
        "seq": batch.seq,
        "r": [[r.device, r.quantity, r.time_ms, r.value, r.quality.value] for r in batch.readings],
    }
    expected = json.dumps(old_style, separators=(",", ":"), ensure_ascii=False).encode()
    assert encode_batch(batch) == expected
    assert all(not r.thinned for r in decode_batch(expected).readings)


@pytest.mark.parametrize(
    ("mean_of", "match"),
    [
        (1, "mean_of must be at least 2"),
        (0, "mean_of must be at least 2"),
        (-3, "mean_of must be at least 2"),
        (True, "mean_of must be an integer"),
        (2.0, "mean_of must be an integer"),
        ("2", "mean_of must be an integer"),
        (2**31, "mean_of 2147483648 outside"),
    ],
)
def test_a_bad_mean_of_is_refused(mean_of: Any, match: str) -> None:
    readings = [[*GOOD["r"][0], mean_of]]
    _malformed(_with(r=readings), f"reading 0: {match}")


def test_seven_elements_are_refused() -> None:
    _malformed(_with(r=[[*GOOD["r"][0], 2, 3]]), r"reading 0: expected \[device")
