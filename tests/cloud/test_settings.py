"""Settings from ``SHANSHUI_*``: defaults, parsing, and passwords kept out of sight."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cloud.errors import ConfigError
from cloud.settings import MqttEndpoint, load_settings, parse_mqtt_url


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DATABASE_URL",
        "MQTT_URL",
        "DATA_DIR",
        "HTTP_HOST",
        "HTTP_PORT",
        "HTTP_PUBLIC",
        "TOPIC_ROOT",
        "INGEST_GROUP",
        "INGEST_CLIENT_ID",
    ):
        monkeypatch.delenv(f"SHANSHUI_{name}", raising=False)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_conninfo() is None
    assert settings.mqtt() is None
    assert settings.data_dir == Path("~/.local/share/shanshui").expanduser()
    assert (settings.http_host, settings.http_port) == ("127.0.0.1", 8000)
    assert (settings.topic_root, settings.ingest_group) == ("shanshui/v1", "ingest")


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", "postgresql://app:pw@db/shanshui")
    monkeypatch.setenv("SHANSHUI_MQTT_URL", "mqtt://broker.internal:1884")
    monkeypatch.setenv("SHANSHUI_HTTP_PORT", "9000")
    monkeypatch.setenv("SHANSHUI_TOPIC_ROOT", "city/v1")
    settings = load_settings()
    assert settings.database_conninfo() == "postgresql://app:pw@db/shanshui"
    assert settings.mqtt() == MqttEndpoint("broker.internal", 1884)
    assert settings.http_port == 9000
    assert settings.topic_root == "city/v1"


def test_blank_urls_mean_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", "")
    monkeypatch.setenv("SHANSHUI_MQTT_URL", " ")
    settings = load_settings()
    assert settings.database_conninfo() is None
    assert settings.mqtt() is None


def test_passwords_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHANSHUI_DATABASE_URL", "postgresql://app:dbsecret@db/shanshui")
    monkeypatch.setenv("SHANSHUI_MQTT_URL", "mqtt://ingest:mq%40secret@broker:1883")
    settings = load_settings()
    endpoint = settings.mqtt()
    assert endpoint is not None
    assert endpoint.username == "ingest"
    assert endpoint.password is not None
    assert endpoint.password.get_secret_value() == "mq@secret"
    for text in (repr(settings), str(settings), repr(endpoint), endpoint.address):
        assert "dbsecret" not in text
        assert "secret" not in text.replace("SecretStr", "")


def test_mqtts_defaults_to_port_8883() -> None:
    endpoint = parse_mqtt_url("mqtts://broker.example")
    assert (endpoint.port, endpoint.tls) == (8883, True)


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("MQTT_URL", "http://u:topsecret@broker:1883", "scheme must be mqtt or mqtts"),
        ("MQTT_URL", "mqtt://u:topsecret@broker:99999", "must look like"),
        ("MQTT_URL", "mqtt://u:topsecret@broker:1883/path", "must not have a path"),
        ("DATABASE_URL", "host=db password topsecret", "not a valid libpq"),
        ("HTTP_PORT", "0", "greater than or equal to 1"),
        ("HTTP_HOST", "not a host!", "IP address or a host name"),
        ("TOPIC_ROOT", "shanshui/+/v1", "'/'-separated levels"),
        ("INGEST_GROUP", "a/b", "letters, digits"),
    ],
)
def test_bad_values_name_the_variable_and_hide_the_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(f"SHANSHUI_{variable}", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert f"SHANSHUI_{variable}" in message
    assert complaint in message
    assert "topsecret" not in message


def test_an_api_beyond_loopback_is_allowed_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every request needs a key now; plain HTTP beyond loopback is only warned about."""
    monkeypatch.setenv("SHANSHUI_HTTP_HOST", "0.0.0.0")
    with caplog.at_level(logging.WARNING, logger="cloud.settings"):
        assert load_settings().http_host == "0.0.0.0"
    assert "API keys travel in clear" in caplog.text

    caplog.clear()
    monkeypatch.setenv("SHANSHUI_HTTP_PUBLIC", "1")
    with caplog.at_level(logging.WARNING, logger="cloud.settings"):
        assert load_settings().http_host == "0.0.0.0"
    assert caplog.text == ""


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
def test_loopback_hosts_need_no_permission(host: str) -> None:
    assert load_settings(http_host=host).http_host == host
