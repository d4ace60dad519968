"""Settings of the cloud, read from ``SHANSHUI_*`` environment variables.

Layer: configuration. Parses and checks values; opens no connection and starts
nothing. ``DATABASE_URL`` and ``MQTT_URL`` may carry passwords, so both are held
as :class:`pydantic.SecretStr`: they never appear in ``repr``, logs or error
messages. Use :meth:`Settings.mqtt` for the parsed broker address and
:meth:`Settings.database_conninfo` for the libpq string.

When ``DATABASE_URL`` or ``MQTT_URL`` is absent the caller (``shanshui cloud
serve``) starts an embedded PostgreSQL or broker instead.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.errors import ConfigError

log = logging.getLogger(__name__)

ENV_PREFIX = "SHANSHUI_"
DEFAULT_MQTT_PORTS = {"mqtt": 1883, "mqtts": 8883}
_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where the broker is and how to log in; the password is hidden from ``repr``."""

    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    tls: bool = False

    @property
    def address(self) -> str:
        """``host:port``, safe to log."""
        return f"{self.host}:{self.port}"


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """Parse ``mqtt://[user:password@]host[:port]`` (or ``mqtts://`` for TLS).

    Raises:
        ValueError: the URL is not of that form; the message never repeats the URL.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("must look like mqtt://[user:password@]host:port") from None
    if parts.scheme not in DEFAULT_MQTT_PORTS:
        raise ValueError(f"scheme must be mqtt or mqtts, not {parts.scheme!r}")
    if not parts.hostname:
        raise ValueError("has no host; expected mqtt://[user:password@]host:port")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("must not have a path, query or fragment")
    password = SecretStr(unquote(parts.password)) if parts.password is not None else None
    return MqttEndpoint(
        host=parts.hostname,
        port=port or DEFAULT_MQTT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=password,
        tls=parts.scheme == "mqtts",
    )


class Settings(BaseSettings):
    """Everything the cloud reads from its environment (prefix ``SHANSHUI_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: SecretStr | None = Field(
        default=None, description="libpq conninfo or URI; absent: start an embedded PostgreSQL"
    )
    mqtt_url: SecretStr | None = Field(
        default=None, description="mqtt://[user:password@]host:port; absent: embedded broker"
    )
    secret_key: SecretStr | None = Field(
        default=None,
        repr=False,
        description="operator key sealing gateway secrets at rest: 32 bytes as 64 hex digits "
        "or base64; required with SHANSHUI_DATABASE_URL (embedded: kept in DATA_DIR/secret_key)",
    )
    gateway_secret_grace_hours: float = Field(
        default=24.0,
        ge=0,
        repr=False,
        description="after rotate-secret, the old secret still verifies for this long",
    )
    data_dir: Path = Field(default=Path("~/.local/share/shanshui"))
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    http_public: bool = Field(
        default=False,
        description="silence the warning about serving plain HTTP beyond loopback",
    )
    metrics_host: str = Field(
        default="127.0.0.1", description="address of the Prometheus /metrics listener"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="serve Prometheus metrics at http://METRICS_HOST:PORT/metrics (no API key: "
        "a listener of its own); absent: no metrics listener. One port per process",
    )
    topic_root: str = "shanshui/v1"
    ingest_group: str = "ingest"
    ingest_client_id: str | None = Field(
        default=None,
        description="stable MQTT client id, one per worker: gives it a persistent session, so "
        "messages that arrive while it is down are delivered when it returns (Mosquitto, EMQX; "
        "not the embedded rumqttd, which crashes when such a session ends)",
    )

    compress_after_days: int = Field(
        default=7,
        ge=1,
        description="TimescaleDB: move readings to the columnstore (compressed) at this age",
    )
    retention_days: int | None = Field(
        default=None,
        ge=1,
        description="delete readings older than this (their rollups are kept): TimescaleDB by "
        "its retention policy, plain PostgreSQL by the ingest workers (hourly) and "
        "`shanshui cloud retention run`; absent: keep everything",
    )
    rollup_time_zone: str = Field(
        default="Asia/Shanghai",
        description="daily rollups are this zone's calendar days (a bureau's day is local: "
        "China reports Beijing-time days); a whole number of hours from UTC",
    )
    smtp_host: str | None = Field(
        default=None, description="alarm e-mail: the SMTP server; absent: e-mail contacts fail"
    )
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_from: str = Field(default="shanshui@localhost", description="alarm e-mail sender")
    smtp_username: str | None = None
    smtp_password: SecretStr | None = Field(default=None, repr=False)
    smtp_starttls: bool = False
    alarm_evaluator: bool = Field(
        default=True,
        description="serve and ingest start the alarm evaluator (shanshui cloud alarms run) as "
        "a child process; false where it runs as a service of its own",
    )
    alarm_evaluator_nice: int = Field(
        default=5,
        ge=0,
        le=19,
        description="CPU niceness the alarm evaluator adds to itself: under CPU contention "
        "ingest, which acknowledges gateways, comes first and evaluation catches up",
    )
    alarm_late_after_s: float = Field(
        default=600.0,
        gt=0,
        description="transitions of readings evaluated more than this after they were measured "
        "(backfill) are recorded as late and not notified",
    )

    future_margin_s: int = Field(
        default=600,
        ge=0,
        description="refuse readings stamped more than this after the batch arrived",
    )
    batch_log_retention_days: int = Field(
        default=30,
        ge=1,
        description="forget (gateway, seq) of batches older than this (replay detection)",
    )
    dead_letter_retention_days: int = Field(
        default=90, ge=1, description="delete dead letters older than this"
    )
    dead_letter_payload_bytes: int = Field(
        default=1024 * 1024,
        ge=0,
        le=1024 * 1024,
        description="keep at most this many bytes of a dead letter's payload",
    )
    map_outline: Path | None = Field(
        default=None,
        description="GeoJSON outline of the operator's region, drawn under the dashboard's map",
    )
    hj212_listen: str | None = Field(
        default=None,
        description="host:port where HJ 212 data loggers connect over TCP; absent: off",
    )
    hj212_stations_file: Path | None = Field(
        default=None,
        description="no longer read (stations are in the database): a start with it set is "
        "refused; import it once with `shanshui cloud hj212 station import`",
    )
    nbiot_udp_listen: str | None = Field(
        default=None,
        description="host:port where NB-IoT devices send compact frames over UDP; absent: off",
    )
    nbiot_coap_listen: str | None = Field(
        default=None,
        description="host:port where NB-IoT devices POST compact frames over CoAP; absent: off",
    )
    nbiot_channels_file: Path | None = Field(
        default=None,
        description="no longer read (tables are in the database): a start with it set is "
        "refused; import it once with `shanshui cloud nbiot channels import`",
    )
    ctwing_push_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="secret in the URL of CTWing's subscription push "
        "(POST /api/v1/nbiot/ctwing/<token>); absent: that endpoint is off",
    )
    onenet_push_token: SecretStr | None = Field(
        default=None,
        repr=False,
        description="the token configured in OneNET's data push (signs its messages); "
        "absent: POST/GET /api/v1/nbiot/onenet is off",
    )

    @field_validator("hj212_listen", "nbiot_udp_listen", "nbiot_coap_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is not None:
            split_listen(value)
        return value

    def hj212_address(self) -> tuple[str, int] | None:
        """Where the HJ 212 listener binds, if it is on."""
        return split_listen(self.hj212_listen) if self.hj212_listen else None

    def nbiot_udp_address(self) -> tuple[str, int] | None:
        """Where the NB-IoT UDP listener binds, if it is on."""
        return split_listen(self.nbiot_udp_listen) if self.nbiot_udp_listen else None

    def nbiot_coap_address(self) -> tuple[str, int] | None:
        """Where the NB-IoT CoAP server binds, if it is on."""
        return split_listen(self.nbiot_coap_listen) if self.nbiot_coap_listen else None

    @field_validator("database_url", "mqtt_url", "secret_key", mode="before")
    @classmethod
    def _blank_is_absent(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                conninfo_to_dict(value.get_secret_value())
            except psycopg.ProgrammingError:
                # libpq's message quotes the offending fragment, which may be the password
                raise ValueError("is not a valid libpq connection string or URI") from None
        return value

    @field_validator("rollup_time_zone")
    @classmethod
    def _rollup_zone_is_usable(cls, value: str) -> str:
        from cloud.storage.rollup_zone import check_rollup_zone  # noqa: PLC0415 - no cycle

        return check_rollup_zone(value)

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url_parses(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_mqtt_url(value.get_secret_value())
        return value

    @field_validator("data_dir")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("http_host")
    @classmethod
    def _host_is_address_or_name(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOSTNAME.fullmatch(value):
                raise ValueError("must be an IP address or a host name") from None
        return value

    @field_validator("topic_root")
    @classmethod
    def _topic_root_is_plain(cls, value: str) -> str:
        levels = value.split("/")
        if not all(_TOPIC_LEVEL.fullmatch(level) for level in levels):
            raise ValueError("must be '/'-separated levels of letters, digits, '_', '.', '-'")
        return value

    @field_validator("ingest_group", "ingest_client_id")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        if value is not None and not _TOPIC_LEVEL.fullmatch(value):
            raise ValueError("must be letters, digits, '_', '.', '-'")
        return value

    @model_validator(mode="after")
    def _warn_plain_http_beyond_loopback(self) -> Settings:
        if not self.http_public and not _is_loopback(self.http_host):
            # Every request needs an API key, but over plain HTTP keys cross the network in
            # clear: say so once; HTTP_PUBLIC=1 says a TLS-terminating proxy is in front.
            log.warning(
                "%sHTTP_HOST=%s serves plain HTTP beyond loopback: API keys travel in clear "
                "unless a TLS-terminating proxy is in front (%sHTTP_PUBLIC=1 silences this)",
                ENV_PREFIX,
                self.http_host,
                ENV_PREFIX,
            )
        return self

    def mqtt(self) -> MqttEndpoint | None:
        """The configured broker, or None when an embedded one should be started."""
        if self.mqtt_url is None:
            return None
        return parse_mqtt_url(self.mqtt_url.get_secret_value())

    def database_conninfo(self) -> str | None:
        """The configured database conninfo, or None for an embedded PostgreSQL."""
        return None if self.database_url is None else self.database_url.get_secret_value()


def split_listen(value: str) -> tuple[str, int]:
    """``host:port`` (port 0: any free port) as a pair.

    Raises:
        ValueError: not host:port with a port 0..65535.
    """
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r} is not host:port")
    return host.strip("[]"), int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with ``overrides`` taking precedence.

    Raises:
        ConfigError: naming each bad variable and why, without echoing its value
            (it may hold a password).
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            # a cross-field check has no location: its message names the variables
            (
                f"{ENV_PREFIX}{'.'.join(str(p) for p in error['loc']).upper()}: "
                if error["loc"]
                else ""
            )
            + error["msg"].removeprefix("Value error, ")
            for error in exc.errors(include_url=False, include_input=False)
        ]
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None


def embedded_servers(settings: Settings, *, broker: bool = True) -> list[str]:
    """Which development servers a command would start: ``postgresql``, ``mqtt`` (if
    ``broker``) for what ``SHANSHUI_DATABASE_URL`` / ``SHANSHUI_MQTT_URL`` leave unset."""
    servers = []
    if settings.database_conninfo() is None:
        servers.append("postgresql")
    if broker and settings.mqtt() is None:
        servers.append("mqtt")
    return servers


def embedded_warning(servers: list[str]) -> str:
    """The warning for running on embedded development servers."""
    unset = {"postgresql": "SHANSHUI_DATABASE_URL", "mqtt": "SHANSHUI_MQTT_URL"}
    names = " and ".join(f"{server} ({unset[server]} unset)" for server in servers)
    return (
        f"running on EMBEDDED DEVELOPMENT servers: {names}; "
        "not for production (no TLS, no backups, data in SHANSHUI_DATA_DIR)"
    )
