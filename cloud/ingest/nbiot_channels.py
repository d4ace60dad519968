"""NB-IoT channel tables from a YAML file (``SHANSHUI_NBIOT_CHANNELS_FILE`` of earlier versions).

Layer: configuration (reads one file; no network, no SQL). The tables live in
the database now (:mod:`cloud.storage.nbiot_channels`); ``shanshui cloud nbiot
channels import`` reads such a file. A compact frame
carries a channel index and a 2-byte digest of the table instead of names, so
the cloud must hold the same table as the gateway's ``uplink: {type: nbiot,
channels: [...]}``: the same entries (device, quantity, decimals) in the same
order. Errors read ``channels.yaml:7: gateways[0].channels[1].decimals: ...``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cloud.errors import ConfigError
from device_profiles.yaml_source import LocatedError, YamlSourceError, validate_yaml
from wire import WireError
from wire.compact import Channel

_STRICT = ConfigDict(extra="forbid", frozen=True)


class ChannelEntry(BaseModel):
    """One channel, as the gateway's ``uplink.channels`` lists it."""

    model_config = _STRICT

    device: str = Field(min_length=1)
    quantity: str = Field(min_length=1)
    decimals: int = Field(default=1, ge=-9, le=9)

    @model_validator(mode="after")
    def _valid_channel(self) -> Self:
        try:
            self.channel()
        except WireError as exc:
            raise LocatedError(("device",), exc.message) from None
        return self

    def channel(self) -> Channel:
        """The compact-frame channel."""
        return Channel(self.device, self.quantity, self.decimals)


class GatewayChannels(BaseModel):
    """One gateway and its table, in the gateway's order."""

    model_config = _STRICT

    gateway: str = Field(min_length=1)
    channels: tuple[ChannelEntry, ...] = Field(min_length=1)

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


class ChannelsFile(BaseModel):
    """The whole file."""

    model_config = _STRICT

    gateways: tuple[GatewayChannels, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct_gateways(self) -> Self:
        seen: dict[str, int] = {}
        for i, entry in enumerate(self.gateways):
            if entry.gateway in seen:
                raise LocatedError(
                    ("gateways", i, "gateway"), f"already listed as gateways[{seen[entry.gateway]}]"
                )
            seen[entry.gateway] = i
        return self


def load_channel_tables(path: Path) -> dict[str, tuple[Channel, ...]]:
    """Each gateway's channel table from ``path``, by gateway id.

    Raises:
        ConfigError: the file is unusable (file:line: key: message).
    """
    try:
        parsed = validate_yaml(path, ChannelsFile)
    except YamlSourceError as exc:
        raise ConfigError(str(exc)) from None
    return {
        entry.gateway: tuple(channel.channel() for channel in entry.channels)
        for entry in parsed.gateways
    }
