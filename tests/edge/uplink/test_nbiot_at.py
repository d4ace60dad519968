"""Lines of a BC95-class module: classification, echo, URCs, NSORF answers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.uplink.nbiot.at import AtLineReader, Kind, classify, nsonmi, nsorf


def test_final_results_and_errors() -> None:
    assert classify("OK").kind is Kind.OK
    assert classify("ERROR").kind is Kind.ERROR
    error = classify("+CME ERROR:3")
    assert (error.kind, error.cme) == (Kind.ERROR, 3)
    assert classify("+CME ERROR: 50").cme == 50


def test_urcs_are_told_from_answers() -> None:
    assert classify("+NSONMI:0,24").kind is Kind.URC
    assert classify("+CEREG:0").kind is Kind.URC  # unsolicited: registration lost
    assert classify("+CEREG:0,1").kind is Kind.ANSWER  # the answer to AT+CEREG?
    assert classify("+CGATT:1").kind is Kind.ANSWER


def test_reader_drops_echo_and_blank_lines_and_waits_for_line_ends() -> None:
    reader = AtLineReader()
    assert reader.feed(b"AT+CSQ\r\r\n+CSQ:18") == []
    lines = reader.feed(b",99\r\n\r\nOK\r\n")
    assert [(line.kind, line.text) for line in lines] == [
        (Kind.ANSWER, "+CSQ:18,99"),
        (Kind.OK, "OK"),
    ]


@given(st.lists(st.binary(max_size=20), max_size=10))
def test_reader_never_fails_on_noise(chunks: list[bytes]) -> None:
    reader = AtLineReader()
    for chunk in chunks:
        reader.feed(chunk)


def test_socket_answers() -> None:
    assert nsonmi("+NSONMI:1,12") == (1, 12)
    assert nsorf("1,127.0.0.1,5683,3,414243,0") == ("127.0.0.1", 5683, b"ABC", 0)
    with pytest.raises(ValueError, match="length does not match"):
        nsorf("1,127.0.0.1,5683,4,414243,0")
    with pytest.raises(ValueError, match="not an NSORF answer"):
        nsorf("OK")
