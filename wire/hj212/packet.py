"""HJ 212 packets, 2017 and 2025 editions: frame, header fields, Flag, CRC, SM4.

Layer: sans-IO codec over bytes. ``encode_packet`` turns a :class:`Packet` into
the bytes of one frame; ``parse_packet`` turns one untrusted frame back into a
:class:`Frame` (packet + CRC verdict) or raises :class:`wire.errors.Hj212Error`;
``decode_packet`` also refuses a bad CRC. ``next_frame`` cuts frames out of a
TCP byte stream. Nothing here does I/O.

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
from enum import StrEnum

from wire.errors import Hj212CrcError, Hj212Error
from wire.hj212.crc import crc16_hex
from wire.hj212.sm4 import (
    braced_hex,
    check_key,
    decrypt_area,
    encrypt_area,
    encrypts_cn,
    parse_braced_hex,
)

MAX_SEGMENT = 1024  # characters of the data segment; longer data is split (PNUM/PNO)
MAX_CP = 950  # characters between CP=&& and the closing &&
MAX_FRAME = 2 + 4 + MAX_SEGMENT + 4 + 2  # 1036 bytes
HEADER = b"##"
TAIL = b"\r\n"
_CP_OPEN = b"CP=&&"
_CP_CLOSE = b"&&"

_DIGITS = re.compile(r"[0-9]+")
_QN = re.compile(r"[0-9]{17}")  # YYYYMMDDhhmmsszzz
_PW = re.compile(r"[!-~]{1,6}")
_MN = re.compile(r"[A-Za-z0-9]{1,24}")
_CP_TEXT = re.compile(r"[ -~]*")
_BAD_IN_FIELD = frozenset(";=&,")


class Edition(StrEnum):
    """Which edition of HJ 212 a peer speaks (chosen per peer, read from Flag)."""

    HJ212_2017 = "2017"
    HJ212_2025 = "2025"


_VERSION_BITS = {Edition.HJ212_2017: 0b000001, Edition.HJ212_2025: 0b000010}
_EDITION_OF = {bits: edition for edition, bits in _VERSION_BITS.items()}


class CipherForm(StrEnum):
    """How a peer writes SM4 ciphertext in the data area (see module docstring)."""

    RAW = "raw"
    BRACED = "braced"


@dataclass(frozen=True, slots=True)
class PeerCipher:
    """The SM4 key of one HJ 212-2025 peer and the form its ciphertext takes."""

    key: bytes
    form: CipherForm = CipherForm.RAW

    def __post_init__(self) -> None:
        check_key(self.key)

    def __repr__(self) -> str:  # the key never reaches a log line
        return f"PeerCipher(key=<{len(self.key)} bytes>, form={self.form.value!r})"


@dataclass(frozen=True, slots=True)
class Packet:
    """The data segment of one HJ 212 packet, with Flag spelled out.

    ``cp`` is the exact text between ``CP=&&`` and the closing ``&&``; ``cp.py``
    reads and writes its data items. ``ack`` is the "answer required" bit;
    ``pnum``/``pno`` are set only on the parts of a split packet.
    """

    st: str
    cn: str
    pw: str
    mn: str
    cp: str = ""
    qn: str | None = None
    edition: Edition = Edition.HJ212_2017
    ack: bool = False
    pnum: int | None = None
    pno: int | None = None
    backfill: bool = False

    def __post_init__(self) -> None:
        _check_field("QN", self.qn, _QN, "17 digits YYYYMMDDhhmmsszzz", optional=True)
        _check_field("ST", self.st, re.compile(r"[0-9]{2}"), "2 digits")
        _check_field("CN", self.cn, re.compile(r"[0-9]{4}"), "4 digits")
        _check_field("PW", self.pw, _PW, "1-6 printable ASCII characters")
        if not isinstance(self.pw, str) or _BAD_IN_FIELD & set(self.pw):
            raise Hj212Error("PW must not contain ';', '=', '&' or ','")
        _check_field("MN", self.mn, _MN, "1-24 letters or digits")
        if not isinstance(self.edition, Edition):
            raise Hj212Error(f"edition must be an Edition, got {self.edition!r}")
        if not isinstance(self.cp, str) or not _CP_TEXT.fullmatch(self.cp):
            raise Hj212Error("CP must be printable ASCII")
        if len(self.cp) > MAX_CP:
            raise Hj212Error(f"CP is {len(self.cp)} characters, at most {MAX_CP}: split it")
        _check_split(self.pnum, self.pno)
        if self.backfill and self.edition is not Edition.HJ212_2025:
            raise Hj212Error("RF (back-filled data) exists in HJ 212-2025 only")

    @property
    def flag(self) -> int:
        """The Flag byte: edition bits, has-PNUM/PNO bit, answer-required bit."""
        split = self.pnum is not None
        return _VERSION_BITS[self.edition] << 2 | split << 1 | int(self.ack)

    def segment(self) -> bytes:
        """The plain-text data segment, as covered by the CRC."""
        fields = [] if self.qn is None else [f"QN={self.qn}"]
        fields += [f"ST={self.st}", f"CN={self.cn}", f"PW={self.pw}", f"MN={self.mn}"]
        fields.append(f"Flag={self.flag}")
        if self.pnum is not None:
            fields += [f"PNUM={self.pnum}", f"PNO={self.pno}"]
        if self.backfill:
            fields.append("RF=1")
        return (";".join(fields) + ";CP=&&" + self.cp + "&&").encode("ascii")


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
        wire = head + area + _CP_CLOSE
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
    cp_at = wire.find(_CP_OPEN)
    if cp_at < 0 or not wire.endswith(_CP_CLOSE) or len(wire) < cp_at + 7:
        raise Hj212Error("data segment must end with CP=&&...&&")
    head = _parse_head(wire[:cp_at])
    edition = _edition(head)
    area = wire[cp_at + len(_CP_OPEN) : -len(_CP_CLOSE)]
    encrypted = _encrypted(edition, head["CN"])
    if encrypted and cipher is not None:
        area = _decrypt(area, cipher)
    elif encrypted and (area.startswith(b"{0x") or not area.isascii()):
        raise Hj212Error("data area looks SM4-encrypted and no key is configured for this peer")
    encrypted = encrypted and cipher is not None
    segment = wire[: cp_at + len(_CP_OPEN)] + area + _CP_CLOSE
    if declared_length != len(segment):
        raise Hj212Error(
            f"length field says {declared_length}, data segment is {len(segment)} characters"
        )
    packet = _packet(head, edition, _ascii(area, "CP"))
    return Frame(packet, crc.decode().upper(), crc16_hex(segment), encrypted)


def peek_mn(data: bytes) -> str:
    """The MN a frame claims, read from its plain-text header without trusting it.

    A server needs it to pick the peer's key and edition before parsing.

    Raises:
        Hj212Error: no readable header with an MN.
    """
    if not isinstance(data, bytes | bytearray) or not bytes(data[:2]) == HEADER:
        raise Hj212Error("packet must start with '##'")
    cp_at = bytes(data[:MAX_FRAME]).find(_CP_OPEN)
    if cp_at < 0:
        raise Hj212Error("data segment must end with CP=&&...&&")
    mn = _parse_head(bytes(data[6:cp_at])).get("MN", "")
    _check_field("MN", mn, _MN, "1-24 letters or digits")
    return mn


def next_frame(buffer: bytes) -> tuple[int, bytes | None]:  # noqa: PLR0911 - one per case
    """Cut the first frame out of a TCP byte stream.

    Returns ``(consumed, frame)``: ``(0, None)`` asks for more bytes;
    ``(n, None)`` with ``n > 0`` skips ``n`` bytes of garbage before the next
    ``##``; ``(n, frame)`` is one frame of ``n`` bytes, to be parsed by
    :func:`parse_packet`. Frames are cut by their length field; when the bytes
    after it are not CRC + CR LF (braced ciphertext) the next CR LF ends the frame.
    """
    start = buffer.find(HEADER)
    if start < 0:
        return (len(buffer) - 1, None) if buffer.endswith(b"#") else (len(buffer), None)
    if start > 0:
        return start, None
    if len(buffer) < 6:
        return 0, None
    if not buffer[2:6].isdigit() or int(buffer[2:6]) > MAX_SEGMENT:
        return 2, None  # not a header after all: skip the '##'
    end = 6 + int(buffer[2:6]) + 4 + len(TAIL)
    if len(buffer) >= end and buffer[end - 2 : end] == TAIL:
        return end, buffer[:end]
    newline = buffer.find(TAIL, 6)
    if newline >= 0 and len(buffer) >= end:
        return newline + 2, buffer[: newline + 2]
    if len(buffer) > MAX_FRAME + 5 * MAX_CP:
        return 2, None
    return 0, None


def _encrypted(edition: Edition, cn: str) -> bool:
    return edition is Edition.HJ212_2025 and encrypts_cn(cn)


def _decrypt(area: bytes, cipher: PeerCipher) -> bytes:
    if cipher.form is CipherForm.BRACED and area.startswith(b"{"):
        cipher_bytes, rest = parse_braced_hex(area)
        if len(cipher_bytes) % 16:
            raise Hj212Error("braced ciphertext must be whole 16-byte blocks")
        return decrypt_area(cipher_bytes, cipher.key) + rest
    return decrypt_area(area, cipher.key)


def _parse_head(head: bytes) -> dict[str, str]:
    text = _ascii(head, "header")
    if not text.endswith(";"):
        raise Hj212Error("header fields must end with ';' before CP=&&")
    fields: dict[str, str] = {}
    for part in text[:-1].split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            raise Hj212Error(f"header field {part[:20]!r} lacks '='")
        if key not in ("QN", "ST", "CN", "PW", "MN", "Flag", "PNUM", "PNO", "RF"):
            raise Hj212Error(f"unknown header field {key[:20]!r}")
        if key in fields:
            raise Hj212Error(f"header field {key} appears twice")
        fields[key] = value
    for key in ("ST", "CN", "PW", "MN", "Flag"):
        if key not in fields:
            raise Hj212Error(f"header lacks {key}")
    return fields


def _edition(head: dict[str, str]) -> Edition:
    flag = head.get("Flag", "")
    if not _DIGITS.fullmatch(flag) or len(flag) > 3 or int(flag) > 255:
        raise Hj212Error(f"Flag must be a number 0-255, got {flag[:10]!r}")
    version = int(flag) >> 2
    if version not in _EDITION_OF:
        raise Hj212Error(
            f"Flag={flag}: version bits {version:06b} are neither 2017 (000001) nor 2025 (000010)"
        )
    return _EDITION_OF[version]


def _packet(head: dict[str, str], edition: Edition, cp: str) -> Packet:
    flag = int(head["Flag"])
    split = "PNUM" in head or "PNO" in head
    if bool(flag & 2) != split:
        raise Hj212Error(f"Flag={flag} says PNUM/PNO {'present' if flag & 2 else 'absent'}")
    rf = head.get("RF")
    if rf is not None and rf != "1":
        raise Hj212Error(f"RF must be 1 when present, got {rf[:10]!r}")
    return Packet(
        st=head["ST"],
        cn=head["CN"],
        pw=head["PW"],
        mn=head["MN"],
        cp=cp,
        qn=head.get("QN"),
        edition=edition,
        ack=bool(flag & 1),
        pnum=_count("PNUM", head.get("PNUM")),
        pno=_count("PNO", head.get("PNO")),
        backfill=rf is not None,
    )


def _count(name: str, text: str | None) -> int | None:
    if text is None:
        return None
    if not _DIGITS.fullmatch(text) or len(text) > 4:
        raise Hj212Error(f"{name} must be 1-4 digits, got {text[:10]!r}")
    return int(text)


def _check_split(pnum: int | None, pno: int | None) -> None:
    if (pnum is None) != (pno is None):
        raise Hj212Error("PNUM and PNO come together")
    if pnum is None or pno is None:
        return
    for name, value in (("PNUM", pnum), ("PNO", pno)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
            raise Hj212Error(f"{name} must be 1-9999, got {value!r}")
    if pno > pnum:
        raise Hj212Error(f"PNO {pno} is beyond PNUM {pnum}")


def _check_field(
    name: str, value: object, pattern: re.Pattern[str], what: str, *, optional: bool = False
) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Hj212Error(f"{name} must be {what}, got {str(value)[:30]!r}")


def _ascii(data: bytes, what: str) -> str:
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise Hj212Error(f"{what} holds a non-ASCII byte (a wrong SM4 key?)") from None
    if not _CP_TEXT.fullmatch(text):
        raise Hj212Error(f"{what} holds a control character")
    return text
