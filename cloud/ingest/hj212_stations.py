"""HJ 212 stations from the YAML file of earlier versions (``SHANSHUI_HJ212_STATIONS_FILE``).

Layer: configuration (reads the file and the password and key files it names;
no network, no SQL). Stations live in the database now
(:mod:`cloud.storage.hj212_stations`); ``shanshui cloud hj212 station import``
reads such a file once. It lists each data logger's MN, the gateway its readings
are stored under, its password file, its edition, and for 2025 its SM4 key file
(32 hex digits). Paths are relative to the file. Errors read
``stations.yaml:7: stations[1].edition: ...``; secrets never enter a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.errors import ConfigError
from cloud.ingest.hj212_readings import Station
from device_profiles.yaml_source import (
    LocatedError,
    Where,
    YamlSourceError,
    read_yaml,
    validate_yaml,
)
from wire.hj212 import Edition, PeerCipher

_STRICT = ConfigDict(extra="forbid", frozen=True)
SM4_KEY_BYTES = 16


class StationEntry(BaseModel):
    """One data logger."""

    model_config = _STRICT

    mn: str = Field(min_length=1, max_length=27, pattern=r"^[0-9A-Za-z]+$")
    gateway: str = Field(min_length=1)
    password_file: Path
    edition: Literal["2017", "2025"] = "2017"
    sm4_key_file: Path | None = None

    @model_validator(mode="after")
    def _key_for_2025(self) -> Self:
        if self.edition == "2025" and self.sm4_key_file is None:
            raise LocatedError(("sm4_key_file",), "edition 2025 needs sm4_key_file")
        if self.edition == "2017" and self.sm4_key_file is not None:
            raise LocatedError(("sm4_key_file",), "only edition 2025 encrypts; remove it")
        return self


class StationsFile(BaseModel):
    """The whole file."""

    model_config = _STRICT

    stations: tuple[StationEntry, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_mn(self) -> Self:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.stations):
            if entry.mn in seen:
                raise LocatedError(
                    ("stations", i, "mn"), f"MN already used by stations[{seen[entry.mn]}]"
                )
            seen[entry.mn] = i
        return self


def load_stations(path: Path) -> dict[str, Station]:
    """The stations of ``path`` by MN, with their passwords and keys read.

    Raises:
        ConfigError: the file or a file it names is unusable (file:line: key: message).
    """
    try:
        parsed = validate_yaml(path, StationsFile)
        _, node = read_yaml(path)
    except YamlSourceError as exc:
        raise ConfigError(str(exc)) from None
    where = Where(path, node)
    base = path.parent.resolve()
    stations: dict[str, Station] = {}
    for i, entry in enumerate(parsed.stations):
        password = _read(base / entry.password_file, ("stations", i, "password_file"), where)
        if not password:
            raise ConfigError(where.format(("stations", i, "password_file"), "file is empty"))
        cipher = None
        if entry.sm4_key_file is not None:
            loc = ("stations", i, "sm4_key_file")
            try:
                key = bytes.fromhex(_read(base / entry.sm4_key_file, loc, where))
            except ValueError:
                key = b""
            if len(key) != SM4_KEY_BYTES:
                raise ConfigError(
                    where.format(loc, "must hold the 16-byte SM4 key as 32 hex digits")
                )
            cipher = PeerCipher(key)
        stations[entry.mn] = Station(
            entry.mn, password, entry.gateway, Edition(entry.edition), cipher
        )
    return stations


def _read(path: Path, loc: tuple[str | int, ...], where: Where) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(where.format(loc, f"cannot read {path}: {reason}")) from None
