"""``gateway.yaml``: the pydantic model of the file and the loader that resolves secrets.

Layer: reads the YAML file and the secret and password files it names; nothing
else (no network, no polling). Secrets never enter a repr, a log line or an
error message: they live in :class:`EdgeConfig` as ``SecretBytes``/``SecretStr``.

A broken file is refused with :class:`ConfigError`, one line per problem, in the
form ``gateway.yaml:14: buses[0].devices[1].slave: Input should be ...``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from device_profiles import load_quantities
from device_profiles.yaml_source import (
    LocatedError,
    Where,
    YamlSourceError,
    describe_errors,
    read_yaml,
)
from edge.bus_config import (
    BUS_TYPES,
    AsciiBus,
    BusConfig,
    DeviceConfig,
    ModbusRtuBus,
    ModbusRtuOverTcpBus,
    ModbusTcpBus,
)
from edge.config_source import SECRET_ENV, check_tls_files, load_password, load_secret
from edge.errors import ConfigError
from edge.uplink_config import (
    UPLINK_TYPES,
    Hj212UplinkSection,
    MqttUplinkSection,
    NbiotUplinkSection,
    UplinkSection,
    load_hj212_key,
    load_hj212_password,
)
from wire import MAX_BATCH_BYTES
from wire.batch import check_gateway_id
from wire.signing import MIN_SECRET_BYTES

__all__ = [
    "BUS_TYPES",
    "SECRET_ENV",
    "AsciiBus",
    "BusConfig",
    "DeviceConfig",
    "EdgeConfig",
    "GatewayFile",
    "GatewaySection",
    "ModbusRtuBus",
    "ModbusRtuOverTcpBus",
    "ModbusTcpBus",
    "MqttSection",
    "OutboxSection",
    "PublishSection",
    "TlsSection",
    "describe_config",
    "load_config",
]

# 2000 readings stay well below wire.MAX_BATCH_BYTES even with 64-character ids.
MAX_BATCH_READINGS = 2000

_STRICT = ConfigDict(extra="forbid", frozen=True)


class GatewaySection(BaseModel):
    """``gateway:`` identity, secret and data directory."""

    model_config = _STRICT

    id: str
    secret_file: Path | None = None
    data_dir: Path = Path("var")

    @field_validator("id")
    @classmethod
    def _legal_id(cls, value: str) -> str:
        return check_gateway_id(value)


TlsVersion = Literal["1.2", "1.3"]


class TlsSection(BaseModel):
    """``mqtt.tls:`` MQTT over TLS; paths are relative to gateway.yaml.

    ``ca_file``: the CA that signed the broker's certificate (default: the
    system's CAs). ``cert_file``/``key_file``: the gateway's client certificate,
    for brokers that require one. The broker's name is checked against its
    certificate unless ``check_hostname`` is false (a broker reached by an IP
    address its certificate does not name).
    """

    model_config = _STRICT

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    min_version: TlsVersion = "1.2"
    check_hostname: bool = True

    @model_validator(mode="after")
    def _cert_and_key(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise LocatedError(("cert_file",), "cert_file and key_file go together")
        return self


class MqttSection(BaseModel):
    """``mqtt:`` broker address and topic root; the password lives in a file."""

    model_config = _STRICT

    host: str = Field(default="127.0.0.1", min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    topic_root: str = "shanshui/v1"
    keepalive_s: int = Field(default=30, ge=5, le=65535)
    username: str | None = None
    password_file: Path | None = None
    tls: TlsSection | None = None

    @field_validator("topic_root")
    @classmethod
    def _plain_topic(cls, value: str) -> str:
        levels = value.split("/")
        if any(not level for level in levels) or any(c in value for c in "+#\0"):
            raise ValueError("must be topic levels separated by '/', without wildcards")
        return value

    @model_validator(mode="after")
    def _password_needs_user(self) -> Self:
        if self.password_file is not None and self.username is None:
            raise LocatedError(("password_file",), "password_file needs a username")
        return self


class PublishSection(BaseModel):
    """``publish:`` when the outbox seals a batch, and how often the status is repeated."""

    model_config = _STRICT

    max_batch_readings: int = Field(default=500, ge=1, le=MAX_BATCH_READINGS)
    max_delay_s: float = Field(default=1.0, gt=0, le=3600)
    # rumqttd (the embedded broker) drops the connection of a client that publishes
    # more than 20 KiB by default, and paho would re-send that message forever.
    max_payload_bytes: int = Field(default=16 * 1024, ge=1024, le=MAX_BATCH_BYTES)
    # the retained online status (device health, outbox depth) is republished this often
    # while connected, besides on every connect and on a device state change
    status_interval_s: float = Field(default=60.0, gt=0, le=3600)
    # a batch the cloud has not settled (down/ack) this long after sending is sent again
    ack_timeout_s: float = Field(default=30.0, gt=0, le=3600)
    # batches sent and not yet settled, at most: bounds memory and re-sends after a timeout
    max_unconfirmed_batches: int = Field(default=32, ge=1, le=1000)
    # bandwidth cap for metered links (bytes/s of signed batches); unset: no cap
    max_bytes_per_s: int | None = Field(default=None, ge=100)
    # sealed batches waiting at most; beyond, readings wait unsealed (and can be thinned)
    max_sealed_batches: int = Field(default=64, ge=1, le=100_000)
    # a batch passed over this many times (due again while a batch sent after its last
    # send was committed: the cloud cannot read its seq) is quarantined as never_acknowledged
    quarantine_after_sends: int = Field(default=5, ge=2, le=1000)


class OutboxSection(BaseModel):
    """``outbox:`` how much the gateway keeps while it cannot deliver, and what it does when full.

    Full means more than ``max_readings`` waiting, more than ``max_bytes`` used
    in the outbox file, or less than ``min_free_disk_bytes`` free on its disk.
    Then the oldest half of the waiting readings is thinned to one mean per
    series per ``thin_window_min`` minutes (doubling while that frees nothing),
    counted and reported; nothing is dropped silently.
    """

    model_config = _STRICT

    max_readings: int = Field(default=2_000_000, ge=1000)
    max_bytes: int = Field(default=256 * 2**20, ge=2**20)
    min_free_disk_bytes: int = Field(default=64 * 2**20, ge=0)
    thin_window_min: int = Field(default=5, ge=1, le=1440)


class GatewayFile(BaseModel):
    """The whole of ``gateway.yaml``."""

    model_config = _STRICT

    gateway: GatewaySection
    mqtt: MqttSection = MqttSection()
    publish: PublishSection = PublishSection()
    outbox: OutboxSection = OutboxSection()
    uplink: UplinkSection = MqttUplinkSection()
    buses: tuple[BusConfig, ...] = ()

    @model_validator(mode="after")
    def _distinct_names(self) -> Self:
        buses: dict[str, int] = {}
        devices: dict[str, str] = {}
        for b, bus in enumerate(self.buses):
            if bus.name in buses:
                where = f"buses[{buses[bus.name]}]"
                raise LocatedError(("buses", b, "name"), f"bus name {bus.name!r} used by {where}")
            buses[bus.name] = b
            for d, device in enumerate(bus.devices):
                if device.id in devices:
                    raise LocatedError(
                        ("buses", b, "devices", d, "id"),
                        f"device id {device.id!r} is already used by {devices[device.id]}",
                    )
                devices[device.id] = f"buses[{b}].devices[{d}]"
        if isinstance(self.uplink, NbiotUplinkSection):
            self._check_uplink_channels(self.uplink, devices)
        return self

    def _check_uplink_channels(self, uplink: NbiotUplinkSection, devices: dict[str, str]) -> None:
        """A channel names a configured device and a known quantity (else nothing fills it)."""
        known = load_quantities()
        for c, entry in enumerate(uplink.channels):
            if self.buses and entry.device not in devices:
                raise LocatedError(
                    ("uplink", "channels", c, "device"), f"no device {entry.device!r} on any bus"
                )
            if entry.quantity not in known:
                raise LocatedError(
                    ("uplink", "channels", c, "quantity"),
                    f"unknown quantity {entry.quantity!r} (not in the quantities vocabulary)",
                )


@dataclass(frozen=True)
class EdgeConfig:
    """A validated gateway configuration with its secrets resolved.

    Build it with :func:`load_config`, or directly in tests and demos.
    """

    settings: GatewayFile
    secret: SecretBytes
    data_dir: Path
    mqtt_password: SecretStr | None = None
    source: Path | None = None
    hj212_password: SecretStr | None = None
    hj212_key: SecretBytes | None = None

    def __post_init__(self) -> None:
        if len(self.secret.get_secret_value()) < MIN_SECRET_BYTES:
            raise ConfigError(f"gateway secret must be at least {MIN_SECRET_BYTES} bytes")

    @property
    def gateway_id(self) -> str:
        """The gateway id (MQTT client id, batch ``gw``)."""
        return self.settings.gateway.id


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> EdgeConfig:
    """Read, validate and resolve ``gateway.yaml``.

    Args:
        path: the YAML file; ``secret_file``, ``password_file`` and ``data_dir``
            are relative to its folder.
        environ: where ``SHANSHUI_GATEWAY_SECRET`` is looked up (default ``os.environ``).

    Raises:
        ConfigError: the file, the secret or the password cannot be used; the
            message names file, line and key, one problem per line.
    """
    env = os.environ if environ is None else environ
    try:
        data, node = read_yaml(path)
    except YamlSourceError as exc:
        raise ConfigError(str(exc)) from None
    if data is None:
        raise ConfigError(f"{path.name}: file is empty")
    try:
        settings = GatewayFile.model_validate(data)
    except ValidationError as exc:
        tags = (*BUS_TYPES, *UPLINK_TYPES)
        raise ConfigError("\n".join(describe_errors(path, node, exc, tags))) from None
    base = path.parent.resolve()
    where = Where(path, node)
    check_tls_files(settings.mqtt.tls, base, where)
    uplink = settings.uplink
    hj212_password, hj212_key = None, None
    if isinstance(uplink, Hj212UplinkSection):
        hj212_password = load_hj212_password(uplink, base, where)
        hj212_key = load_hj212_key(uplink, base, where)
    return EdgeConfig(
        settings=settings,
        secret=load_secret(settings.gateway.secret_file, base, env, where),
        data_dir=base / settings.gateway.data_dir,
        mqtt_password=load_password(settings.mqtt.password_file, base, where),
        source=path,
        hj212_password=hj212_password,
        hj212_key=hj212_key,
    )


def describe_config(config: EdgeConfig) -> list[str]:
    """A human summary of the buses and devices, one line each (no secrets)."""
    settings = config.settings
    mqtt = settings.mqtt
    uplink = settings.uplink
    lines = [f"gateway {config.gateway_id}: data in {config.data_dir}"]
    if isinstance(uplink, NbiotUplinkSection):
        lines.append(
            f"nbiot {uplink.serial_port} at {uplink.baudrate} baud to {uplink.transport} "
            f"{uplink.host}:{uplink.port}, {len(uplink.channels)} channel(s)"
            + (f", bands {','.join(map(str, uplink.bands))}" if uplink.bands else "")
            + (f", APN {uplink.apn}" if uplink.apn else "")
        )
    elif isinstance(uplink, Hj212UplinkSection):
        lines.append(f"hj212 {uplink.edition} to {uplink.host}:{uplink.port} as MN {uplink.mn}")
    else:
        lines.append(
            f"mqtt {mqtt.host}:{mqtt.port} topic root {mqtt.topic_root}"
            + (f" as {mqtt.username}" if mqtt.username else "")
        )
    for bus in settings.buses:
        lines.append(f"bus {bus.name}: {bus.type} {bus.where}, timeout {bus.timeout_s}s")
        for d in bus.devices:
            at = f" slave {d.slave}" if isinstance(d, DeviceConfig) else ""
            lines.append(f"  device {d.id}: {d.model}{at} every {d.interval_s}s")
    return lines
