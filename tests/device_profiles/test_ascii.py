"""ASCII line grammars: framing, checksums, parsing, formatting (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from device_profiles import AsciiSpec, SentinelError
from device_profiles.ascii import (
    AsciiError,
    checksum,
    checksum_text,
    decode_frame,
    format_line,
    parse_line,
)

# Gill WindSonic polar continuous mode: <STX>Q,ddd,sss.ss,M,nn,<ETX>cc\r\n, where cc is
# the XOR of the bytes between STX and ETX (lsst-ts/ts_ess_common
# doc/gill_windsonic_2-d_sonic_wind_sensor.rst, after the WindSonic user manual).
WINDSONIC: dict[str, Any] = {
    "start": "\x02",
    "regex": r"Q,(?P<dir>\d{3})?,(?P<speed>\d{3}\.\d{2}),M,(?P<status>\d\d),",
    "template": "Q,{direction},{speed},M,00,",
    "checksum": {"algorithm": "xor8", "start": "\x02", "end": "\x03"},
    "fields": [
        {
            "name": "direction",
            "quantity": "wind_direction",
            "field": "dir",
            "optional": True,
            "format": "{:03.0f}",
        },
        {"name": "speed", "quantity": "wind_speed", "field": "speed", "format": "{:06.2f}"},
    ],
}
DELIMITED: dict[str, Any] = {
    "start": "$",
    "delimiter": ",",
    "checksum": {"algorithm": "sum8", "start": "$", "end": "*"},
    "fields": [
        {"name": "t", "quantity": "air_temperature", "field": 1, "invalid_text": ["----"]},
        {"name": "rh", "quantity": "relative_humidity", "field": 3, "scale": 0.1},
    ],
}


def _spec(data: dict[str, Any], **overrides: Any) -> AsciiSpec:
    return AsciiSpec.model_validate(data | overrides)


def _xor(text: str) -> str:
    return checksum_text("xor8", text.encode("latin-1"))


def test_windsonic_line_parses() -> None:
    body = "Q,036,002.57,M,00,"
    line = f"\x02{body}\x03{_xor(body)}"
    assert parse_line(_spec(WINDSONIC), line) == {"direction": 36.0, "speed": 2.57}


def test_windsonic_calm_line_leaves_the_direction_out() -> None:
    body = "Q,,000.04,M,00,"
    assert parse_line(_spec(WINDSONIC), f"\x02{body}\x03{_xor(body)}") == {"speed": 0.04}


def test_bad_checksum_is_refused() -> None:
    with pytest.raises(AsciiError, match="does not match"):
        parse_line(_spec(WINDSONIC), "\x02Q,036,002.57,M,00,\x0300")


def test_line_not_matching_the_grammar_is_refused() -> None:
    body = "Q,036,2.57,K,00,"
    with pytest.raises(AsciiError, match="grammar"):
        parse_line(_spec(WINDSONIC), f"\x02{body}\x03{_xor(body)}")


def test_known_checksums() -> None:
    assert checksum("xor8", b"") == 0
    assert checksum("sum8", b"\xff\x02") == 1
    # FACTS §7: Modbus request 01 03 00 00 00 01 carries CRC bytes 84 0A (low byte first)
    assert checksum("crc16_modbus", bytes.fromhex("010300000001")) == 0x0A84


def test_delimited_fields_sentinels_and_errors() -> None:
    spec = _spec(DELIMITED)
    body = "$TH,21.5,x,655"
    line = body + "*" + checksum_text("sum8", body[1:].encode())
    assert parse_line(spec, line) == {"t": 21.5, "rh": pytest.approx(65.5)}
    body = "$TH,----,x,abc"
    values = parse_line(spec, body + "*" + checksum_text("sum8", body[1:].encode()))
    assert isinstance(values["t"], SentinelError)
    assert isinstance(values["rh"], AsciiError)


def test_frame_needs_more_then_cuts_one_line() -> None:
    spec = _spec(DELIMITED)
    assert decode_frame(spec, b"$TH,1") == (0, None)
    assert decode_frame(spec, b"$TH,1\r\n$TH") == (7, "$TH,1")
    with pytest.raises(AsciiError, match="no line end"):
        decode_frame(spec, b"x" * 600)


@given(
    direction=st.integers(0, 359),
    speed=st.integers(5, 6000).map(lambda n: n / 100),
    split=st.integers(0, 40),
)
def test_format_then_frame_then_parse_round_trips(direction: int, speed: float, split: int) -> None:
    spec = _spec(WINDSONIC)
    data = format_line(spec, {"direction": direction, "speed": speed})
    head = data[:split]
    if split < len(data):
        assert decode_frame(spec, head) == (0, None)  # any prefix asks for more
    consumed, line = decode_frame(spec, data + b"\x02Q")
    assert consumed == len(data)
    assert line is not None
    assert parse_line(spec, line) == {"direction": direction, "speed": speed}


@given(values=st.tuples(st.integers(-400, 600), st.integers(0, 1000)))
def test_delimited_round_trip(values: tuple[int, int]) -> None:
    spec = _spec(DELIMITED)
    t, rh = values[0] / 10, values[1] / 10
    _, line = decode_frame(spec, format_line(spec, {"t": t, "rh": rh}))
    assert line is not None
    parsed = parse_line(spec, line)
    assert parsed["t"] == pytest.approx(t)
    assert parsed["rh"] == pytest.approx(rh)


@given(data=st.binary(max_size=80))
def test_garbage_raises_ascii_error_or_parses(data: bytes) -> None:
    spec = _spec(WINDSONIC)
    try:
        _, line = decode_frame(spec, data)
        if line is not None:
            parse_line(spec, line)
    except AsciiError:
        pass


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"delimiter": ","}, "exactly one of delimiter and regex"),
        ({"regex": "("}, "regex does not compile"),
        ({"template": None}, "needs a template"),
        ({"regex": r"(?P<speed>.*)"}, "regex has no group 'dir'"),
    ],
)
def test_grammar_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        _spec(WINDSONIC, **overrides)
