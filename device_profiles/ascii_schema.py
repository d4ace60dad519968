"""The ASCII line grammar of a serial sensor that speaks text, not Modbus.

Layer: pure data (pydantic models). Parsing and formatting live in
:mod:`device_profiles.ascii`.

A line is ``[start]body[end checksum]terminator``. The body is cut into fields
either by a delimiter (fields numbered from 0) or by a regular expression
(fields named by its groups). The checksum, when there is one, covers the
bytes after ``checksum.start`` and before ``checksum.end`` and is written in
hexadecimal right after ``checksum.end``.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

from device_profiles.measurement import STRICT, Measurement

ChecksumAlgorithm = Literal["xor8", "sum8", "crc16_modbus"]
HEX_DIGITS: dict[str, int] = {"xor8": 2, "sum8": 2, "crc16_modbus": 4}


class AsciiSerial(BaseModel):
    """Factory serial settings of an ASCII sensor."""

    model_config = STRICT

    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class Checksum(BaseModel):
    """Where the checksum sits and how it is computed."""

    model_config = STRICT

    algorithm: ChecksumAlgorithm
    start: str = Field(default="", description="the sum covers what follows this marker")
    end: str = Field(min_length=1, description="the sum covers what precedes this marker")

    @property
    def hex_digits(self) -> int:
        """Length of the checksum text."""
        return HEX_DIGITS[self.algorithm]


class AsciiField(Measurement):
    """One value in a line: a field index (delimited) or a group name (regex)."""

    field: int | str
    optional: bool = Field(
        default=False, description="the sensor may leave it empty (a wind direction in calm air)"
    )
    invalid_text: tuple[str, ...] = Field(
        default=(), description="texts the sensor writes for a broken probe (sentinels)"
    )
    format: str = Field(
        default="{:g}", description="how the sensor writes the value (for the simulators)"
    )

    @field_validator("field")
    @classmethod
    def _field_reference(cls, field: int | str) -> int | str:
        if isinstance(field, int) and field < 0:
            raise ValueError("a field index counts from 0")
        return field

    @field_validator("format")
    @classmethod
    def _one_placeholder(cls, text: str) -> str:
        try:
            text.format(1.5)
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"not a format for one number: {exc}") from None
        return text


class AsciiSpec(BaseModel):
    """How an ASCII sensor talks: serial settings, framing, grammar and fields."""

    model_config = STRICT

    serial: AsciiSerial = AsciiSerial()
    request: str | None = Field(
        default=None, description="text that asks for a line; None: the sensor streams lines"
    )
    interval_s: float = Field(default=1.0, gt=0, description="how often a streaming sensor writes")
    start: str = Field(default="", description="text every line starts with")
    terminator: str = Field(default="\r\n", min_length=1)
    delimiter: str | None = Field(default=None, min_length=1)
    regex: str | None = None
    checksum: Checksum | None = None
    template: str | None = Field(
        default=None,
        description="body with {field} placeholders, how the sensor writes a line (simulators)",
    )
    fields: tuple[AsciiField, ...]
    max_line_bytes: int = Field(default=512, ge=8, le=65536)

    @model_validator(mode="after")
    def _grammar(self) -> Self:
        if (self.delimiter is None) == (self.regex is None):
            raise ValueError("give exactly one of delimiter and regex")
        if not self.fields:
            raise ValueError("an ASCII profile needs at least one field")
        groups: set[str] = set()
        if self.regex is not None:
            try:
                groups = set(re.compile(self.regex).groupindex)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from None
        names: set[str] = set()
        for field in self.fields:
            if field.name in names:
                raise ValueError(f"field name {field.name!r} used twice")
            names.add(field.name)
            if self.regex is not None and field.field not in groups:
                raise ValueError(f"field {field.name!r}: regex has no group {field.field!r}")
            if self.delimiter is not None and not isinstance(field.field, int):
                raise ValueError(f"field {field.name!r}: a delimited line numbers its fields")
        if self.regex is not None and self.template is None:
            raise ValueError("a regex grammar needs a template (how the sensor writes a line)")
        return self
