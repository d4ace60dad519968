"""HJ 212 packets: round trips, stream framing, and precise refusals."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.hj212.strategies import ciphers, packets
from wire.errors import Hj212CrcError, Hj212Error
from wire.hj212 import (
    MAX_FRAME,
    Edition,
    Packet,
    PeerCipher,
    decode_packet,
    encode_packet,
    next_frame,
    parse_packet,
)

EXAMPLE = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
)


def _edit(old: bytes, new: bytes) -> bytes:
    """EXAMPLE with ``old`` replaced by ``new`` and the length field fixed to match."""
    segment = EXAMPLE[6:-6].replace(old, new)
    return b"##%04d" % len(segment) + segment + EXAMPLE[-6:]


@given(packet=packets())
def test_round_trip(packet: Packet) -> None:
    data = encode_packet(packet)
    assert len(data) <= MAX_FRAME
    assert decode_packet(data) == packet


@given(packet=packets(), cipher=ciphers)
def test_round_trip_encrypted(packet: Packet, cipher: PeerCipher) -> None:
    data = encode_packet(packet, cipher)
    frame = parse_packet(data, cipher)
    assert frame.crc_valid
    assert frame.packet == packet


@given(packet=packets(), cipher=ciphers)
def test_round_trip_through_a_stream_cut_anywhere(packet: Packet, cipher: PeerCipher) -> None:
    data = b"junk" + encode_packet(packet, cipher) * 2
    buffer, frames = b"", []
    for byte in data:
        buffer += bytes([byte])
        while True:
            used, frame = next_frame(buffer)
            if used == 0:
                break
            buffer = buffer[used:]
            if frame is not None:
                frames.append(frame)
    assert [parse_packet(f, cipher).packet for f in frames] == [packet, packet]


def test_flag_bits_per_edition() -> None:
    base = Packet(st="21", cn="2011", pw="123456", mn="MN1", qn="20240101000000000")
    assert base.flag == 4
    assert dataclasses.replace(base, ack=True).flag == 5
    assert dataclasses.replace(base, ack=True, pnum=2, pno=1).flag == 7
    v2025 = dataclasses.replace(base, edition=Edition.HJ212_2025)
    assert v2025.flag == 8
    assert dataclasses.replace(v2025, ack=True, pnum=2, pno=2).flag == 11


def test_backfill_marker_is_2025_only_and_written_after_pnum() -> None:
    packet = Packet(
        st="21",
        cn="2061",
        pw="1",
        mn="M",
        edition=Edition.HJ212_2025,
        pnum=2,
        pno=1,
        backfill=True,
    )
    assert b"Flag=10;PNUM=2;PNO=1;RF=1;CP=&&" in encode_packet(packet)
    with pytest.raises(Hj212Error, match="2025 only"):
        Packet(st="21", cn="2061", pw="1", mn="M", backfill=True)


def test_bad_crc_is_reported_with_both_values() -> None:
    data = EXAMPLE.replace(b"1C80", b"1C81")
    assert not parse_packet(data).crc_valid
    with pytest.raises(Hj212CrcError) as caught:
        decode_packet(data)
    assert (caught.value.declared, caught.value.computed) == ("1C81", "1C80")
    assert caught.value.reason == "hj_crc"


def test_lower_case_crc_is_accepted() -> None:
    assert decode_packet(EXAMPLE.replace(b"1C80", b"1c80")).cn == "1062"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (EXAMPLE[1:], "must start with '##'"),
        (EXAMPLE[:-2], "must end with CR LF"),
        (EXAMPLE.replace(b"##0101", b"##01a1"), "length must be 4 digits"),
        (EXAMPLE.replace(b"##0101", b"##0100"), "length field says 100, data segment is 101"),
        (EXAMPLE.replace(b"##0101", b"##0102"), "truncated: length field says 102"),
        (EXAMPLE.replace(b"1C80", b"1CX0"), "CRC must be 4 hex digits"),
        (EXAMPLE.replace(b"Flag=5", b"Flag=1"), "version bits 000000"),
        (EXAMPLE.replace(b"Flag=5", b"Flag=7"), "says PNUM/PNO present"),
        (_edit(b"Flag=5;", b"Flag=5;Foo=1;"), "unknown header field 'Foo'"),
        (_edit(b"ST=32;", b""), "header lacks ST"),
        (_edit(b"ST=32;", b"ST=32;ST=32;"), "ST appears twice"),
        (_edit(b"CN=1062", b"CN=106"), "CN must be 4 digits"),
        (_edit(b"=30&&", b"=30&"), "must end with CP=&&...&&"),
        (_edit(b"PW=100000", b"PW=1000000"), "PW must be 1-6"),
        (_edit(b"Flag=5", b"Flag=5;RF=1"), "RF .* exists in HJ 212-2025 only"),
        (_edit(b"Flag=5", b"Flag=7;PNUM=1;PNO=2"), "PNO 2 is beyond PNUM 1"),
        (_edit(b"RtdInterval", b"Rtd\x01Interval"), "control character"),
        (_edit(b"RtdInterval", b"Rtd\xe4Interval"), "non-ASCII"),
    ],
)
def test_malformed_packets_are_refused_precisely(data: bytes, message: str) -> None:
    with pytest.raises(Hj212Error, match=message):
        parse_packet(data)


def test_a_segment_over_1024_characters_is_refused_by_the_encoder() -> None:
    packet = Packet(st="21", cn="2011", pw="1", mn="M" * 24, cp="x=" + "1" * 948)
    packet = dataclasses.replace(packet, qn="20240101000000000")
    with pytest.raises(Hj212Error, match="at most 1024"):
        encode_packet(dataclasses.replace(packet, mn="M" * 24, pw="123456", cp="DataTime=1;" * 86))


@given(st.binary(max_size=64))
def test_next_frame_always_progresses_or_waits(data: bytes) -> None:
    used, frame = next_frame(data)
    assert 0 <= used <= len(data)
    assert frame is None or (used > 0 and frame == data[:used])


def test_the_cipher_key_never_appears_in_its_repr() -> None:
    assert "secret" not in repr(PeerCipher(b"secret-key-12345"))
