"""HJ 212 header text: the ``QN=..;ST=..;..;Flag=..;`` fields before ``CP=&&``.

Layer: sans-IO parsing (text in, fields or a :class:`~wire.hj212.model.Packet`
out, :class:`~wire.errors.Hj212Error` on anything malformed). Flag gives the
edition (bits 7..2), whether PNUM/PNO follow (bit 1) and the answer bit (bit 0).
"""

from __future__ import annotations

from wire.errors import Hj212Error
from wire.hj212.model import CP_TEXT, DIGITS, EDITION_OF, Edition, Packet


def parse_head(head: bytes) -> dict[str, str]:
    """The header fields, each once, the required ones present.

    Raises:
        Hj212Error: malformed.
    """
    text = ascii_text(head, "header")
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


def edition_of(head: dict[str, str]) -> Edition:
    """The edition Flag's version bits name.

    Raises:
        Hj212Error: Flag is not a byte, or names no edition we speak.
    """
    flag = head.get("Flag", "")
    if not DIGITS.fullmatch(flag) or len(flag) > 3 or int(flag) > 255:
        raise Hj212Error(f"Flag must be a number 0-255, got {flag[:10]!r}")
    version = int(flag) >> 2
    if version not in EDITION_OF:
        raise Hj212Error(
            f"Flag={flag}: version bits {version:06b} are neither 2017 (000001) nor 2025 (000010)"
        )
    return EDITION_OF[version]


def packet_of(head: dict[str, str], edition: Edition, cp: str) -> Packet:
    """The packet of checked header fields and CP text.

    Raises:
        Hj212Error: Flag and PNUM/PNO disagree, a bad RF, PNUM or PNO, or a bad field.
    """
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
    if not DIGITS.fullmatch(text) or len(text) > 4:
        raise Hj212Error(f"{name} must be 1-4 digits, got {text[:10]!r}")
    return int(text)


def ascii_text(data: bytes, what: str) -> str:
    """``data`` as printable ASCII.

    Raises:
        Hj212Error: a non-ASCII byte or a control character.
    """
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise Hj212Error(f"{what} holds a non-ASCII byte (a wrong SM4 key?)") from None
    if not CP_TEXT.fullmatch(text):
        raise Hj212Error(f"{what} holds a control character")
    return text
