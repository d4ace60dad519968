"""Published HJ 212 packets decode, and our encoder gives back their exact bytes.

The packets and their sources are in tests/vectors/hj212.yaml; each entry cites
where it was published (the standard's examples, public implementations).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from wire.hj212 import (
    CipherForm,
    Edition,
    PeerCipher,
    crc16_hex,
    decode_packet,
    encode_packet,
    parse_cp,
    parse_packet,
)

VECTORS = yaml.safe_load((Path(__file__).parents[2] / "vectors" / "hj212.yaml").read_text())
PLAIN: list[dict[str, Any]] = VECTORS["plain"]
ENCRYPTED: list[dict[str, Any]] = VECTORS["encrypted"]


def _frame(text: str) -> bytes:
    return text.encode("ascii") + b"\r\n"


@pytest.mark.parametrize("vector", PLAIN, ids=[v["source"][:50] for v in PLAIN])
def test_published_packet_decodes_and_reencodes_byte_for_byte(vector: dict[str, Any]) -> None:
    published = _frame(vector["packet"])
    frame = parse_packet(published)
    assert frame.crc_valid
    assert frame.crc_computed == vector["packet"][-4:].upper()
    # chenqi92 prints its CRC in lower case; we write upper case, as the standard does
    assert encode_packet(frame.packet).upper() == published.upper()
    if vector["packet"][-4:].isupper() or vector["packet"][-4:].isdigit():
        assert encode_packet(frame.packet) == published


def test_the_standards_example_fields() -> None:
    packet = decode_packet(_frame(PLAIN[0]["packet"]))
    assert (packet.qn, packet.st, packet.cn, packet.pw) == (
        "20160801085857223",
        "32",
        "1062",
        "100000",
    )
    assert packet.mn == "010000A8900016F000169DC0"
    assert packet.edition is Edition.HJ212_2017
    assert packet.ack
    assert packet.flag == 5
    assert parse_cp(packet.cp).param("RtdInterval") == "30"


def test_the_standards_crc_is_not_modbus_crc() -> None:
    segment = PLAIN[0]["packet"][6:-4].encode()
    assert crc16_hex(segment) == "1C80"  # Modbus CRC-16 would give 0759


def test_2025_data_items_with_flags() -> None:
    packet = decode_packet(_frame(PLAIN[5]["packet"]))
    assert packet.edition is Edition.HJ212_2025
    assert packet.ack  # Flag=9: 2025, answer wanted
    cp = parse_cp(packet.cp)
    assert cp.data_time == "20240520210600"
    assert [i.code for i in cp.items] == ["a01011", "a01012", "a01014"]
    assert cp.items[2].get("Avg") == "3.211"
    assert cp.items[2].number("Max") == pytest.approx(3.212)
    assert cp.items[2].flag == "N"


@pytest.mark.parametrize("vector", ENCRYPTED, ids=["whole-blocks", "with-remainder"])
def test_sm4_examples_of_the_2025_standard(vector: dict[str, Any]) -> None:
    cipher = PeerCipher(bytes.fromhex(vector["key"]), CipherForm.BRACED)
    published = _frame(vector["packet"])
    frame = parse_packet(published, cipher)
    assert frame.encrypted
    assert frame.crc_valid  # over the decrypted plain text, as the standard orders
    assert encode_packet(frame.packet) == _frame(vector["plain"])
    assert encode_packet(frame.packet, cipher) == published


def test_raw_ciphertext_form_carries_the_same_bytes() -> None:
    vector = ENCRYPTED[1]
    key = bytes.fromhex(vector["key"])
    packet = decode_packet(_frame(vector["plain"]))
    raw = encode_packet(packet, PeerCipher(key, CipherForm.RAW))
    printed = vector["packet"].split("CP=&&{", 1)[1].split("}", 1)[0]
    ciphertext = bytes(int(b, 16) for b in printed.split(","))
    head = vector["plain"][: vector["plain"].index("CP=&&") + 5].encode()
    assert raw == head + ciphertext + b"g=N&&B541\r\n"
    assert raw[2:6] == b"0234"  # the length field counts the plain text
    assert decode_packet(raw, PeerCipher(key)) == packet


def test_an_encrypted_packet_without_the_key_is_refused_clearly() -> None:
    from wire.errors import Hj212Error  # noqa: PLC0415

    with pytest.raises(Hj212Error, match="SM4-encrypted and no key"):
        parse_packet(_frame(ENCRYPTED[0]["packet"]))
