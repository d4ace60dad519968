"""Lines of a BC95/BC28-class module: final results, answers and unsolicited codes.

Layer: sans-IO codec. :class:`AtLineReader` takes bytes as they arrive and
returns complete lines (and the ``>`` prompt of a command that waits for
data, which ends no line); :func:`classify` says what a line is. The results
of the MQTT commands (``+QMTOPEN:``, ``+QMTPUB:`` ...) come after ``OK``, as
unsolicited codes do, and are classified as such. Nothing here touches a
serial port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

FINAL_OK = "OK"
_CME = re.compile(r"\+CME ERROR: ?(\d+)")
_QMT_URCS = (
    "+QMTOPEN:",
    "+QMTCLOSE:",
    "+QMTCONN:",
    "+QMTDISC:",
    "+QMTSUB:",
    "+QMTUNS:",
    "+QMTPUB:",
    "+QMTRECV:",
    "+QMTSTAT:",
)


class Kind(Enum):
    """What a line from the module is."""

    OK = "ok"
    ERROR = "error"
    URC = "urc"
    ANSWER = "answer"
    PROMPT = "prompt"


@dataclass(frozen=True, slots=True)
class Line:
    """One classified line; ``cme`` is the code of a ``+CME ERROR``."""

    kind: Kind
    text: str
    cme: int | None = None


def classify(text: str) -> Line:
    """Classify one line (without its CR LF)."""
    if text == FINAL_OK:
        return Line(Kind.OK, text)
    if text == "ERROR":
        return Line(Kind.ERROR, text)
    match = _CME.fullmatch(text)
    if match:
        return Line(Kind.ERROR, text, int(match.group(1)))
    if text.startswith("+NSONMI:") or (text.startswith("+CEREG:") and "," not in text):
        return Line(Kind.URC, text)
    if text.startswith(_QMT_URCS):
        return Line(Kind.URC, text)
    return Line(Kind.ANSWER, text)


class AtLineReader:
    """Cuts the module's output into lines; drops empty lines and the echo of commands."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[Line]:
        """Add received bytes; return the complete lines among them, classified."""
        self._buffer += data
        lines: list[Line] = []
        while b"\n" in self._buffer:
            raw, _, self._buffer = self._buffer.partition(b"\n")
            text = raw.strip(b"\r ").decode("ascii", "replace")
            if text and not text.upper().startswith("AT"):
                lines.append(classify(text))
        if self._buffer.strip(b"\r ") == b">":  # waits for data: no line end follows
            self._buffer = b""
            lines.append(Line(Kind.PROMPT, ">"))
        return lines


def nsonmi(text: str) -> tuple[int, int]:
    """``+NSONMI:<socket>,<length>`` as (socket, length)."""
    socket_text, _, length = text.removeprefix("+NSONMI:").partition(",")
    return int(socket_text), int(length)


def nsorf(text: str) -> tuple[str, int, bytes, int]:
    """``<s>,<ip>,<port>,<len>,<hex>,<remaining>`` as (ip, port, data, remaining).

    Raises:
        ValueError: not an NSORF answer.
    """
    fields = text.split(",")
    if len(fields) != 6:
        raise ValueError(f"not an NSORF answer: {text[:40]!r}")
    data = bytes.fromhex(fields[4])
    if len(data) != int(fields[3]):
        raise ValueError("NSORF length does not match its data")
    return fields[1], int(fields[2]), data, int(fields[5])


def qmt_fields(text: str) -> list[str]:
    """The comma-separated fields of a ``+QMT...: a,b,"c"`` line, quotes removed.

    A quoted field may hold commas (a topic, a text payload); quotes do not nest.

    Raises:
        ValueError: an unterminated quote.
    """
    _, _, rest = text.partition(":")
    fields: list[str] = []
    current, quoted = "", False
    for char in rest.strip():
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append(current)
            current = ""
        else:
            current += char
    if quoted:
        raise ValueError(f"unterminated quote in {text[:40]!r}")
    fields.append(current)
    return fields
