"""FrameCodec: golden RTU vectors from FACTS.md §5, CRC errors and garbage told apart."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.polling.modbus_frames import (
    FrameCodec,
    FrameError,
    read_request,
    read_values,
    write_request,
)

RTU = FrameCodec("rtu")

# FACTS.md §5: requests with their CRCs (computed independently), and a Renke NPK answer
REQUESTS = [
    (3, 1, 0x0000, 1, "01 03 00 00 00 01 84 0A"),
    (3, 1, 0x0012, 1, "01 03 00 12 00 01 24 0F"),
    (3, 1, 0x001E, 3, "01 03 00 1E 00 03 65 CD"),
    (4, 1, 0x0000, 2, "01 04 00 00 00 02 71 CB"),
    (4, 1, 0x0000, 3, "01 04 00 00 00 03 B0 0B"),
    (3, 0x11, 0x0000, 2, "11 03 00 00 00 02 C6 9B"),
]
REPLIES = [
    ("01 03 02 00 20 B9 9C", 1, [0x0020]),  # Renke RS-NPK-N01: N = 32 mg/kg
    ("01 04 04 00 00 6E 8C D6 41", 1, [0x0000, 0x6E8C]),  # SenseCAP S700: 28300
    ("01 04 06 08 90 0E 93 02 4E D2 57", 1, [0x0890, 0x0E93, 0x024E]),  # Seeed soil
]


@pytest.mark.parametrize(("function", "slave", "start", "count", "frame"), REQUESTS)
def test_read_requests_match_the_manuals(
    function: int, slave: int, start: int, count: int, frame: str
) -> None:
    pdu = read_request(function, start, count)
    assert RTU.request(pdu, slave) == bytes.fromhex(frame)


@pytest.mark.parametrize(("frame", "slave", "registers"), REPLIES)
def test_replies_from_the_manuals_decode(frame: str, slave: int, registers: list[int]) -> None:
    data = bytes.fromhex(frame)
    used, reply = RTU.parse(data)
    assert used == len(data)
    assert reply is not None
    assert (reply.slave, list(reply.pdu.registers)) == (slave, registers)


@given(st.data())
def test_any_prefix_of_a_reply_asks_for_more(data: st.DataObject) -> None:
    frame = bytes.fromhex(data.draw(st.sampled_from([r[0] for r in REPLIES])))
    cut = data.draw(st.integers(0, len(frame) - 1))
    assert RTU.parse(frame[:cut]) == (0, None)


@given(st.data())
def test_a_flipped_bit_is_a_crc_error(data: st.DataObject) -> None:
    frame = bytearray(bytes.fromhex(data.draw(st.sampled_from([r[0] for r in REPLIES]))))
    # flip a bit in the data or CRC (not in slave/function/length, which change the framing)
    index = data.draw(st.integers(3, len(frame) - 1))
    frame[index] ^= 1 << data.draw(st.integers(0, 7))
    with pytest.raises(FrameError) as caught:
        RTU.parse(bytes(frame))
    assert caught.value.kind == "crc"


def test_exception_reply_carries_its_code() -> None:
    used, reply = RTU.parse(bytes.fromhex("01 83 02 C0 F1"))
    assert used == 5
    assert reply is not None
    assert reply.exception_code == 2


def test_tcp_framing_carries_the_transaction_id() -> None:
    tcp = FrameCodec("tcp")
    assert tcp.request(read_request(3, 0, 2), 1, tid=7) == bytes.fromhex(
        "0007 0000 0006 01 03 0000 0002"
    )
    used, reply = tcp.parse(bytes.fromhex("0007 0000 0007 01 03 04 0001 0002"))
    assert used == 13
    assert reply is not None
    assert (reply.tid, reply.slave, list(reply.pdu.registers)) == (7, 1, [1, 2])


def test_requests_refuse_what_modbus_cannot_carry() -> None:
    with pytest.raises(ValueError, match="count 126"):
        read_request(3, 0, 126)
    with pytest.raises(ValueError, match="count 2001"):
        read_request(1, 0, 2001)
    with pytest.raises(ValueError, match="not a read"):
        read_request(5, 0, 1)
    with pytest.raises(ValueError, match="outside"):
        read_request(4, 0xFFFF, 2)
    with pytest.raises(ValueError, match="outside"):
        write_request(1, 0x10000)


def test_bits_come_back_as_zeros_and_ones_cut_to_the_count() -> None:
    # FC01 reply: 1 byte of coils 0b00000101 for a read of 3 coils
    _, reply = RTU.parse(bytes.fromhex("01 01 01 05 91 8B"))
    assert reply is not None
    assert read_values(reply, 3) == [1, 0, 1]
