"""The database and broker a cloud command uses: the configured ones, or embedded ones.

Layer: process orchestration for the CLI. When ``SHANSHUI_DATABASE_URL`` or
``SHANSHUI_MQTT_URL`` is unset, start the embedded server from
:mod:`cloud.embedded` for the duration of the ``with`` block and stop it after.
No SQL here (databases are created through :mod:`cloud.storage.admin`).

An embedded PostgreSQL that another live process runs (``shanshui cloud serve``
in another terminal) is attached to and left running; see the ownership note in
:mod:`cloud.embedded.postgres`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cloud.embedded.broker import EmbeddedBroker
from cloud.embedded.postgres import EmbeddedPostgres, EmbeddedPostgresError
from cloud.errors import ConfigError, StorageUnavailableError
from cloud.settings import MqttEndpoint, Settings, parse_mqtt_url
from cloud.storage.admin import ensure_database
from cloud.storage.sealing import SecretKey

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "shanshui"
EMBEDDED_BROKER_HOST = "127.0.0.1"
EMBEDDED_BROKER_PORT = 1883
SECRET_KEY_FILE = "secret_key"  # noqa: S105 - a file name


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """Conninfo of the configured database, or of an embedded one in ``DATA_DIR/postgres``.

    Raises:
        StorageUnavailableError: the embedded server could not be started.
    """
    configured = settings.database_conninfo()
    if configured is not None:
        yield configured
        return
    server = EmbeddedPostgres(settings.data_dir / "postgres")
    try:
        server.start()
    except (EmbeddedPostgresError, OSError) as exc:
        raise StorageUnavailableError(f"cannot start the embedded PostgreSQL: {exc}") from exc
    try:
        yield ensure_database(server.url(), EMBEDDED_DATABASE)
    finally:
        server.stop()


def start_metrics(settings: Settings) -> None:
    """Serve Prometheus metrics if ``SHANSHUI_METRICS_PORT`` is set (a daemon thread).

    Raises:
        ConfigError: the metrics address cannot be bound.
    """
    if settings.metrics_port is None:
        return
    from cloud.metrics import serve_metrics  # noqa: PLC0415 - only when asked for

    try:
        serve_metrics(settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: "
            f"{exc.strerror or exc}"
        ) from exc


def secret_key(settings: Settings) -> SecretKey:
    """The operator key sealing gateway secrets: ``SHANSHUI_SECRET_KEY``, or, for the
    embedded development database only, one generated once into ``DATA_DIR/secret_key``
    (mode 0600) and kept there.

    Raises:
        ConfigError: a configured database and no key, or a key that does not parse.
    """
    if settings.secret_key is not None:
        return SecretKey.parse(settings.secret_key.get_secret_value())
    if settings.database_conninfo() is not None:
        raise ConfigError(
            "SHANSHUI_SECRET_KEY is not set: it seals the gateways' secrets in the database "
            '(generate one: python -c "import secrets; print(secrets.token_hex(32))", and '
            "keep it safe: without it no gateway can be verified)"
        )
    return SecretKey.parse(embedded_secret_key_text(settings.data_dir))


def embedded_secret_key_text(data_dir: Path) -> str:
    """The development key kept in ``data_dir/secret_key`` (0600), generated on first use.

    For the embedded database and the demo only: production sets ``SHANSHUI_SECRET_KEY``.
    """
    path = data_dir / SECRET_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # written whole to a private file, then linked into place: a concurrent
        # command either wins the link or reads the winner's complete key
        draft = path.with_name(f".{SECRET_KEY_FILE}.{os.getpid()}")
        handle = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(SecretKey.generate_text() + "\n")
        try:
            os.link(draft, path)
            log.info("generated the embedded database's secret key in %s", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()


@contextmanager
def broker(settings: Settings) -> Iterator[MqttEndpoint]:
    """The configured broker, or an embedded one on 127.0.0.1:1883.

    Raises:
        ConfigError: the embedded broker's port is taken, or ``INGEST_CLIENT_ID`` asks
            for a persistent session, which the embedded rumqttd cannot combine with
            a shared subscription (its router panics when such a session ends).
    """
    configured = settings.mqtt()
    if configured is not None:
        yield configured
        return
    if settings.ingest_client_id is not None:
        raise ConfigError(
            "SHANSHUI_INGEST_CLIENT_ID needs SHANSHUI_MQTT_URL: the embedded broker does not "
            "support persistent sessions with shared subscriptions"
        )
    embedded = EmbeddedBroker(host=EMBEDDED_BROKER_HOST, port=EMBEDDED_BROKER_PORT)
    try:
        embedded.start()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(
            f"cannot start the embedded MQTT broker on {embedded.host}:{embedded.port} ({exc}); "
            "set SHANSHUI_MQTT_URL to use a running broker"
        ) from exc
    try:
        yield parse_mqtt_url(embedded.url)
    finally:
        embedded.stop()
