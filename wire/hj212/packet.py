"""HJ 212 packets, 2017 and 2025 editions: frame, header fields, Flag, CRC, SM4.

Layer: sans-IO codec over bytes. ``encode_packet`` turns a :class:`Packet` into
the bytes of one frame; ``parse_packet`` turns one untrusted frame back into a
:class:`Frame` (packet + CRC verdict) or raises :class:`wire.errors.Hj212Error`;
``decode_packet`` also refuses a bad CRC. The packet model is ``model.py``, the
header text ``head.py``; ``framing.py`` cuts frames out of a TCP byte stream.
Nothing here does I/O.

Frame (both editions)::

    ##  dddd  QN=..;ST=..;CN=..;PW=..;MN=..;Flag=..;[PNUM=..;PNO=..;][RF=1;]CP=&&..&&  CRC4  \\r\\n
        length of the data segment (ASCII characters)                              CRC-16 (crc.py)

Flag (a decimal byte): bits 7..2 are the edition (000001 = HJ 212-2017,
000010 = HJ 212-2025), bit 1 says the packet carries PNUM/PNO, bit 0 says the
receiver must answer. The 2017 text names these bits ``D A``, the 2025 text
``A D`` but gives the same positions (its Flag=9 example: 2025, answer wanted).
``RF=1`` marks a back-filled packet (2025 only; there is no ``RF=0``); it sits
after PNUM/PNO, as the implementations that quote the 2025 PDF place it [unverified
against the PDF itself].

SM4 (2025, see ``sm4.py``): on the wire the ciphertext replaces the characters
of the data area one for one (``CipherForm.RAW``), so the length field is the
plain-text length, as in the standard's own examples; a receiver frames by the
length. The standard *prints* the ciphertext as ``{0xE4,0x3E,...}``; a peer
that sends that text literally is served by ``CipherForm.BRACED`` [which form real
platforms use is unverified; hence per peer].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wire.errors import Hj212CrcError, Hj212Error
from wire.hj212.crc import crc16_hex
from wire.hj212.head import ascii_text, edition_of, packet_of, parse_head
from wire.hj212.model import (
    CP_CLOSE,
    CP_OPEN,
    HEADER,
    MAX_CP,
    MAX_FRAME,
    MAX_SEGMENT,
    TAIL,
    CipherForm,
    Edition,
    Packet,
    PeerCipher,
)
from wire.hj212.sm4 import braced_hex, decrypt_area, encrypt_area, encrypts_cn, parse_braced_hex


@dataclass(frozen=True, slots=True)
class Frame:
    """A parsed packet and what its frame said about it."""

    packet: Packet
    crc_declared: str
    crc_computed: str
    encrypted: bool

    @property
    def crc_valid(self) -> bool:
        """Whether the CRC in the frame matches the (plain-text) data segment."""
        return self.crc_declared.upper() == self.crc_computed


def encode_packet(packet: Packet, cipher: PeerCipher | None = None) -> bytes:
    """Return the bytes of one frame: header, length, segment, CRC, CR LF.

    With ``cipher``, an HJ 212-2025 packet whose CN calls for it has its data
    area SM4-encrypted after the CRC is computed over the plain text.

    Raises:
        Hj212Error: the data segment is longer than 1024 characters (split it).
    """
    segment = packet.segment()
    if len(segment) > MAX_SEGMENT:
        raise Hj212Error(f"data segment is {len(segment)} characters, at most {MAX_SEGMENT}")
    crc = crc16_hex(segment).encode()
    wire = segment
    if cipher is not None and _encrypted(packet.edition, packet.cn):
        head = segment[: len(segment) - len(packet.cp) - 2]
        area = encrypt_area(packet.cp.encode("ascii"), cipher.key)
        if cipher.form is CipherForm.BRACED:
            full = len(area) - len(area) % 16
            area = (braced_hex(area[:full]) if full else b"") + area[full:]
        wire = head + area + CP_CLOSE
    return b"##%04d" % len(segment) + wire + crc + TAIL


def decode_packet(data: bytes, cipher: PeerCipher | None = None) -> Packet:
    """Parse one frame and check its CRC.

    Raises:
        Hj212CrcError: well-formed, but the CRC does not match.
        Hj212Error: anything else wrong; the message says what and where.
    """
    frame = parse_packet(data, cipher)
    if not frame.crc_valid:
        raise Hj212CrcError(frame.crc_declared, frame.crc_computed)
    return frame.packet


def parse_packet(data: bytes, cipher: PeerCipher | None = None) -> Frame:
    """Parse one frame (``##`` .. CR LF) without refusing a bad CRC.

    Raises:
        Hj212Error: not a well-formed frame or packet.
    """
    if not isinstance(data, bytes | bytearray):
        raise Hj212Error("a packet must be bytes")
    data = bytes(data)
    if len(data) > MAX_FRAME + 5 * MAX_CP:  # braced ciphertext is up to 5x longer
        raise Hj212Error(f"packet is {len(data)} bytes, more than any HJ 212 frame")
    if not data.startswith(HEADER):
        raise Hj212Error(f"packet must start with '##', starts with {data[:2]!r}")
    if not data.endswith(TAIL):
        raise Hj212Error("packet must end with CR LF")
    length_text = data[2:6]
    if len(length_text) < 4 or not length_text.isdigit():
        raise Hj212Error(f"length must be 4 digits after '##', got {length_text!r}")
    declared_length = int(length_text)
    body = data[6 : -len(TAIL)]
    if len(body) < declared_length + 4:
        raise Hj212Error(
            f"packet is truncated: length field says {declared_length} + 4 CRC digits, "
            f"{len(body)} characters follow"
        )
    wire, crc = body[:-4], body[-4:]
    if not re.fullmatch(rb"[0-9A-Fa-f]{4}", crc):
        raise Hj212Error(f"CRC must be 4 hex digits, got {crc!r}")
    cp_at = wire.find(CP_OPEN)
    if cp_at < 0 or not wire.endswith(CP_CLOSE) or len(wire) < cp_at + 7:
        raise Hj212Error("data segment must end with CP=&&...&&")
    head = parse_head(wire[:cp_at])
    edition = edition_of(head)
    area = wire[cp_at + len(CP_OPEN) : -len(CP_CLOSE)]
    encrypted = _encrypted(edition, head["CN"])
    if encrypted and cipher is not None:
        area = _decrypt(area, cipher)
    elif encrypted and (area.startswith(b"{0x") or not area.isascii()):
        raise Hj212Error("data area looks SM4-encrypted and no key is configured for this peer")
    encrypted = encrypted and cipher is not None
    segment = wire[: cp_at + len(CP_OPEN)] + area + CP_CLOSE
    if declared_length != len(segment):
        raise Hj212Error(
            f"length field says {declared_length}, data segment is {len(segment)} characters"
        )
    packet = packet_of(head, edition, ascii_text(area, "CP"))
    return Frame(packet, crc.decode().upper(), crc16_hex(segment), encrypted)


def _encrypted(edition: Edition, cn: str) -> bool:
    return edition is Edition.HJ212_2025 and encrypts_cn(cn)


def _decrypt(area: bytes, cipher: PeerCipher) -> bytes:
    if cipher.form is CipherForm.BRACED and area.startswith(b"{"):
        cipher_bytes, rest = parse_braced_hex(area)
        if len(cipher_bytes) % 16:
            raise Hj212Error("braced ciphertext must be whole 16-byte blocks")
        return decrypt_area(cipher_bytes, cipher.key) + rest
    return decrypt_area(area, cipher.key)
