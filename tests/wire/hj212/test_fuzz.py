"""Untrusted HJ 212 input: decoding raises Hj212Error (a WireError) or succeeds, nothing else."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from tests.wire.hj212.strategies import ciphers, packets
from wire.errors import Hj212Error
from wire.hj212 import Frame, Packet, PeerCipher, encode_packet, parse_cp, parse_packet

KEY = PeerCipher(b"0123456789abcdef")


def _parse(data: bytes, cipher: PeerCipher | None = None) -> None:
    try:
        frame = parse_packet(data, cipher)
    except Hj212Error:
        return
    assert isinstance(frame, Frame)


@given(data=st.binary(max_size=300))
@example(data=b"##0000&&0000\r\n")
@example(data=b"##0007CP=&&&&FFFF\r\n")
def test_arbitrary_bytes(data: bytes) -> None:
    _parse(data)
    _parse(data, KEY)


@given(packet=packets(), position=st.integers(0, 2000), byte=st.integers(0, 255))
def test_one_corrupted_byte(packet: Packet, position: int, byte: int) -> None:
    data = bytearray(encode_packet(packet))
    data[position % len(data)] = byte
    _parse(bytes(data))


@given(packet=packets(), cipher=ciphers, cut=st.integers(0, 2000))
def test_truncated_and_extended(packet: Packet, cipher: PeerCipher, cut: int) -> None:
    data = encode_packet(packet, cipher)
    _parse(data[: cut % len(data)], cipher)
    _parse(data[:-2] + data[cut % len(data) :], cipher)


@given(text=st.text(max_size=200))
def test_arbitrary_cp_text(text: str) -> None:
    try:
        parse_cp(text)
    except Hj212Error:
        return
