"""HJ 212 packets as values: edition, SM4 peer key, and :class:`Packet` with its fields checked.

Layer: sans-IO model (no parsing of bytes here: ``head.py`` reads header text,
``packet.py`` frames, ``framing.py`` cuts a byte stream). A :class:`Packet` is
the data segment with Flag spelled out; constructing one checks every field, so
an invalid packet cannot be built, encoded or returned by a parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from wire.errors import Hj212Error
from wire.hj212.sm4 import check_key

MAX_SEGMENT = 1024  # characters of the data segment; longer data is split (PNUM/PNO)
MAX_CP = 950  # characters between CP=&& and the closing &&
MAX_FRAME = 2 + 4 + MAX_SEGMENT + 4 + 2  # 1036 bytes
HEADER = b"##"
TAIL = b"\r\n"
CP_OPEN = b"CP=&&"
CP_CLOSE = b"&&"

DIGITS = re.compile(r"[0-9]+")
_QN = re.compile(r"[0-9]{17}")  # YYYYMMDDhhmmsszzz
_PW = re.compile(r"[!-~]{1,6}")
MN_PATTERN = re.compile(r"[A-Za-z0-9]{1,24}")
CP_TEXT = re.compile(r"[ -~]*")
_BAD_IN_FIELD = frozenset(";=&,")


class Edition(StrEnum):
    """Which edition of HJ 212 a peer speaks (chosen per peer, read from Flag)."""

    HJ212_2017 = "2017"
    HJ212_2025 = "2025"


VERSION_BITS = {Edition.HJ212_2017: 0b000001, Edition.HJ212_2025: 0b000010}
EDITION_OF = {bits: edition for edition, bits in VERSION_BITS.items()}


class CipherForm(StrEnum):
    """How a peer writes SM4 ciphertext in the data area (see ``packet.py``'s docstring)."""

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
        check_field("QN", self.qn, _QN, "17 digits YYYYMMDDhhmmsszzz", optional=True)
        check_field("ST", self.st, re.compile(r"[0-9]{2}"), "2 digits")
        check_field("CN", self.cn, re.compile(r"[0-9]{4}"), "4 digits")
        check_field("PW", self.pw, _PW, "1-6 printable ASCII characters")
        if not isinstance(self.pw, str) or _BAD_IN_FIELD & set(self.pw):
            raise Hj212Error("PW must not contain ';', '=', '&' or ','")
        check_field("MN", self.mn, MN_PATTERN, "1-24 letters or digits")
        if not isinstance(self.edition, Edition):
            raise Hj212Error(f"edition must be an Edition, got {self.edition!r}")
        if not isinstance(self.cp, str) or not CP_TEXT.fullmatch(self.cp):
            raise Hj212Error("CP must be printable ASCII")
        if len(self.cp) > MAX_CP:
            raise Hj212Error(f"CP is {len(self.cp)} characters, at most {MAX_CP}: split it")
        check_split(self.pnum, self.pno)
        if self.backfill and self.edition is not Edition.HJ212_2025:
            raise Hj212Error("RF (back-filled data) exists in HJ 212-2025 only")

    @property
    def flag(self) -> int:
        """The Flag byte: edition bits, has-PNUM/PNO bit, answer-required bit."""
        split = self.pnum is not None
        return VERSION_BITS[self.edition] << 2 | split << 1 | int(self.ack)

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


def check_split(pnum: int | None, pno: int | None) -> None:
    """PNUM and PNO: both or neither, 1-9999, PNO within PNUM.

    Raises:
        Hj212Error: they are not.
    """
    if (pnum is None) != (pno is None):
        raise Hj212Error("PNUM and PNO come together")
    if pnum is None or pno is None:
        return
    for name, value in (("PNUM", pnum), ("PNO", pno)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 9999:
            raise Hj212Error(f"{name} must be 1-9999, got {value!r}")
    if pno > pnum:
        raise Hj212Error(f"PNO {pno} is beyond PNUM {pnum}")


def check_field(
    name: str, value: object, pattern: re.Pattern[str], what: str, *, optional: bool = False
) -> None:
    """``value`` matches ``pattern`` (``what`` says how, in the error).

    Raises:
        Hj212Error: it does not.
    """
    if value is None and optional:
        return
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Hj212Error(f"{name} must be {what}, got {str(value)[:30]!r}")
