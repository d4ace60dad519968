"""``uplink:`` in ``gateway.yaml``: which transport carries the batches, and its settings.

Layer: configuration model (pydantic) and the readers of the files it names
(HJ 212 password, SM4 key). No network. ``type: mqtt`` (the default) uses the
top-level ``mqtt:`` section, so a file without ``uplink:`` keeps working.
Secrets never enter a repr, a log line or an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr, model_validator

from device_profiles.yaml_source import LocatedError, Where
from edge.errors import ConfigError
from wire.compact import Channel

__all__ = [
    "UPLINK_TYPES",
    "ChannelSection",
    "Hj212UplinkSection",
    "MqttUplinkSection",
    "NbiotUplinkSection",
    "UplinkSection",
    "load_hj212_key",
    "load_hj212_password",
]

UPLINK_TYPES = ("mqtt", "nbiot", "hj212")
SM4_KEY_BYTES = 16

_STRICT = ConfigDict(extra="forbid", frozen=True)


class MqttUplinkSection(BaseModel):
    """``uplink: {type: mqtt}``: the broker of the top-level ``mqtt:`` section."""

    model_config = _STRICT

    type: Literal["mqtt"] = "mqtt"


class ChannelSection(BaseModel):
    """One entry of the NB-IoT channel table (the same table the cloud holds)."""

    model_config = _STRICT

    device: str = Field(min_length=1)
    quantity: str = Field(min_length=1)
    decimals: int = Field(default=1, ge=-9, le=9)

    def channel(self) -> Channel:
        """The compact-frame channel."""
        return Channel(self.device, self.quantity, self.decimals)


class NbiotUplinkSection(BaseModel):
    """``uplink: {type: nbiot}``: a BC95/BC28-class module on a serial port.

    ``transport: udp`` (the default) sends each frame as a datagram to the cloud's
    UDP listener at ``host:port``; ``transport: mqtt`` publishes it through the
    module's own MQTT client to the broker at ``host:port``, under ``topic_root``
    (the top-level ``mqtt:`` section is not used: the module holds the session).
    ``apn`` and ``bands`` (NB-IoT bands the BC28 supports: 1, 3, 5, 8, 20, 28) are
    set before attaching; without them the module keeps its own.
    """

    model_config = _STRICT

    type: Literal["nbiot"]
    serial_port: str = Field(min_length=1)
    baudrate: int = Field(default=9600, ge=1200, le=921_600)
    transport: Literal["udp", "mqtt"] = "udp"
    host: str = Field(min_length=1, pattern=r'^[^",\s]+$')
    port: int = Field(ge=1, le=65535)
    topic_root: str = Field(default="shanshui/v1", pattern=r'^[^"#+\s]+$')
    keepalive_s: int = Field(default=120, ge=10, le=3600)
    apn: str | None = Field(default=None, min_length=1, max_length=63, pattern=r"^[A-Za-z0-9.-]+$")
    bands: tuple[Literal[1, 3, 5, 8, 20, 28], ...] = ()
    channels: tuple[ChannelSection, ...] = Field(min_length=1)
    ack_timeout_s: float = Field(default=10.0, gt=0, le=600)
    attempts: int = Field(default=5, ge=1, le=100)

    @model_validator(mode="after")
    def _distinct_channels(self) -> Self:
        seen: dict[tuple[str, str], int] = {}
        for i, entry in enumerate(self.channels):
            key = (entry.device, entry.quantity)
            if key in seen:
                raise LocatedError(
                    ("channels", i), f"same device and quantity as channels[{seen[key]}]"
                )
            seen[key] = i
        return self


class Hj212UplinkSection(BaseModel):
    """``uplink: {type: hj212}``: the gateway as a station's data logger towards a platform."""

    model_config = _STRICT

    type: Literal["hj212"]
    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    mn: str = Field(min_length=1, max_length=27, pattern=r"^[0-9A-Za-z]+$")
    password_file: Path
    st: str = Field(default="22", pattern=r"^[0-9]{2}$")
    edition: Literal["2017", "2025"] = "2017"
    sm4_key_file: Path | None = None
    answer_timeout_s: float = Field(default=10.0, gt=0, le=600)
    attempts: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _key_for_2025(self) -> Self:
        if self.edition == "2025" and self.sm4_key_file is None:
            raise LocatedError(("sm4_key_file",), "edition 2025 needs sm4_key_file")
        if self.edition == "2017" and self.sm4_key_file is not None:
            raise LocatedError(("sm4_key_file",), "only edition 2025 encrypts; remove it")
        return self


UplinkSection = Annotated[
    MqttUplinkSection | NbiotUplinkSection | Hj212UplinkSection, Field(discriminator="type")
]


def _read(path: Path, loc: tuple[str, ...], where: Where) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(where.format(loc, f"cannot read {path}: {reason}")) from None


def load_hj212_password(section: Hj212UplinkSection, base: Path, where: Where) -> SecretStr:
    """The station's HJ 212 password (PW) from ``password_file``.

    Raises:
        ConfigError: the file cannot be read or is empty.
    """
    loc = ("uplink", "password_file")
    text = _read(base / section.password_file, loc, where).strip()
    if not text:
        raise ConfigError(where.format(loc, f"{base / section.password_file} is empty"))
    return SecretStr(text)


def load_hj212_key(section: Hj212UplinkSection, base: Path, where: Where) -> SecretBytes | None:
    """The SM4 key (32 hex digits) of an edition-2025 platform, if any.

    Raises:
        ConfigError: the file cannot be read or does not hold 16 bytes as hex.
    """
    if section.sm4_key_file is None:
        return None
    loc = ("uplink", "sm4_key_file")
    path = base / section.sm4_key_file
    try:
        key = bytes.fromhex(_read(path, loc, where).strip())
    except ValueError:
        key = b""
    if len(key) != SM4_KEY_BYTES:
        message = f"{path} must hold the {SM4_KEY_BYTES}-byte SM4 key as 32 hex digits"
        raise ConfigError(where.format(loc, message))
    return SecretBytes(key)
