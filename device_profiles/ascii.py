"""ASCII line protocols of serial sensors: framing, checksums, parsing, formatting.

Layer: pure, sans-IO functions over bytes and text. The edge's ASCII transport
feeds received bytes to :func:`decode_frame` and parses each line with
:func:`parse_line`; the simulators write lines with :func:`format_line`. Inputs
are never mutated. Text is Latin-1, so every byte maps to one character and
back (a line can carry STX/ETX control characters).

:func:`decode_frame` follows the codec contract of the project: it returns how
many bytes it consumed and a line, or ``(0, None)`` when it needs more bytes,
and raises :class:`AsciiError` on garbage (a line longer than the grammar allows).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from device_profiles.ascii_schema import AsciiField, AsciiSpec, ChecksumAlgorithm
from device_profiles.errors import ProfileError
from device_profiles.measure import SentinelError

ENCODING = "latin-1"

FieldValues = dict[str, float | ProfileError]


class AsciiError(ProfileError):
    """A line that cannot be framed or parsed: bad checksum, wrong shape, too long."""


def checksum(algorithm: ChecksumAlgorithm, data: bytes) -> int:
    """The checksum of ``data``: XOR or sum of the bytes (8 bits), or Modbus CRC-16."""
    if algorithm == "xor8":
        result = 0
        for byte in data:
            result ^= byte
        return result
    if algorithm == "sum8":
        return sum(data) & 0xFF
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def checksum_text(algorithm: ChecksumAlgorithm, data: bytes) -> str:
    """The checksum as the sensor writes it: upper-case hex, zero-padded."""
    digits = 4 if algorithm == "crc16_modbus" else 2
    return f"{checksum(algorithm, data):0{digits}X}"


def decode_frame(spec: AsciiSpec, buffer: bytes) -> tuple[int, str | None]:
    """Cut one line from the front of ``buffer``.

    Returns:
        ``(consumed, line)`` with the terminator removed, or ``(0, None)`` when
        no terminator has arrived yet.

    Raises:
        AsciiError: more than ``max_line_bytes`` without a terminator (the caller
            should drop the buffer and resynchronise).
    """
    terminator = spec.terminator.encode(ENCODING)
    end = buffer.find(terminator)
    if end < 0:
        if len(buffer) > spec.max_line_bytes:
            raise AsciiError(f"no line end within {spec.max_line_bytes} bytes")
        return 0, None
    return end + len(terminator), buffer[:end].decode(ENCODING)


def parse_line(spec: AsciiSpec, line: str) -> FieldValues:
    """The value of every field in ``line`` (without its terminator).

    A field that cannot be read maps to its error (:class:`SentinelError` for a
    sensor's "broken probe" text); an empty optional field is left out.

    Raises:
        AsciiError: the line as a whole is unusable (start, checksum, shape).
    """
    if not line.startswith(spec.start):
        raise AsciiError(f"line does not start with {spec.start!r}: {line[:40]!r}")
    body_end = len(line)
    if spec.checksum is not None:
        body_end = _verify_checksum(spec, line)
    body = line[len(spec.start) : body_end]
    texts = _field_texts(spec, body)
    values: FieldValues = {}
    for field in spec.fields:
        text = texts.get(field.name)
        if text is None or not text.strip():
            if not field.optional:
                values[field.name] = AsciiError(f"{field.name}: field is missing or empty")
            continue
        values[field.name] = _field_value(field, text.strip())
    return values


def format_line(spec: AsciiSpec, values: Mapping[str, float | None]) -> bytes:
    """The bytes a sensor writes for ``values`` (missing or None: an empty field)."""
    texts = {field.name: _field_text(field, values.get(field.name)) for field in spec.fields}
    if spec.template is not None:
        body = spec.template.format(**texts)
    else:
        assert spec.delimiter is not None  # noqa: S101 - the schema demands one of the two
        positions = {int(field.field): texts[field.name] for field in spec.fields}
        body = spec.delimiter.join(positions.get(i, "") for i in range(max(positions) + 1))
    line = spec.start + body
    if spec.checksum is not None:
        covered = _covered(spec.checksum.start, line)
        line += spec.checksum.end + checksum_text(spec.checksum.algorithm, covered.encode(ENCODING))
    return (line + spec.terminator).encode(ENCODING)


def _verify_checksum(spec: AsciiSpec, line: str) -> int:
    """Check the checksum; return where the body ends (the end marker's index)."""
    assert spec.checksum is not None  # noqa: S101 - caller checked
    marker = spec.checksum.end
    end = line.rfind(marker)
    if end < 0:
        raise AsciiError(f"no checksum marker {marker!r} in line")
    given = line[end + len(marker) :]
    if len(given) != spec.checksum.hex_digits:
        raise AsciiError(f"checksum {given!r} should be {spec.checksum.hex_digits} hex digits")
    expected = checksum_text(
        spec.checksum.algorithm, _covered(spec.checksum.start, line[:end]).encode(ENCODING)
    )
    if given.upper() != expected:
        raise AsciiError(f"checksum {given} does not match the line ({expected})")
    return end


def _covered(start_marker: str, text: str) -> str:
    if not start_marker:
        return text
    index = text.find(start_marker)
    return text if index < 0 else text[index + len(start_marker) :]


def _field_texts(spec: AsciiSpec, body: str) -> dict[str, str | None]:
    if spec.regex is not None:
        match = re.fullmatch(spec.regex, body)
        if match is None:
            raise AsciiError(f"line does not match the sensor's grammar: {body[:60]!r}")
        return {field.name: match.group(str(field.field)) for field in spec.fields}
    assert spec.delimiter is not None  # noqa: S101 - the schema demands one of the two
    parts = body.split(spec.delimiter)
    return {
        field.name: parts[int(field.field)] if int(field.field) < len(parts) else None
        for field in spec.fields
    }


def _field_value(field: AsciiField, text: str) -> float | ProfileError:
    if text in field.invalid_text:
        return SentinelError(field.name, text)
    try:
        number = float(text)
    except ValueError:
        return AsciiError(f"{field.name}: {text!r} is not a number")
    return number * field.scale + field.offset


def _field_text(field: AsciiField, value: float | None) -> str:
    if value is None:
        return ""
    return field.format.format((value - field.offset) / field.scale)
