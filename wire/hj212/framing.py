"""Cutting HJ 212 frames out of a TCP byte stream, and reading a frame's claimed MN.

Layer: sans-IO (bytes in, frames out; :func:`next_frame` follows the project's
decoder contract: consumed length, and a frame or None to ask for more).
"""

from __future__ import annotations

from wire.errors import Hj212Error
from wire.hj212.head import parse_head
from wire.hj212.model import (
    CP_OPEN,
    HEADER,
    MAX_CP,
    MAX_FRAME,
    MAX_SEGMENT,
    MN_PATTERN,
    TAIL,
    check_field,
)


def peek_mn(data: bytes) -> str:
    """The MN a frame claims, read from its plain-text header without trusting it.

    A server needs it to pick the peer's key and edition before parsing.

    Raises:
        Hj212Error: no readable header with an MN.
    """
    if not isinstance(data, bytes | bytearray) or not bytes(data[:2]) == HEADER:
        raise Hj212Error("packet must start with '##'")
    cp_at = bytes(data[:MAX_FRAME]).find(CP_OPEN)
    if cp_at < 0:
        raise Hj212Error("data segment must end with CP=&&...&&")
    mn = parse_head(bytes(data[6:cp_at])).get("MN", "")
    check_field("MN", mn, MN_PATTERN, "1-24 letters or digits")
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
