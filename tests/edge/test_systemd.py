"""systemd notifications: the protocol against real datagram sockets, and the agent under it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge import systemd
from tests.edge.support import write_gateway
from tests.fix_broker import BrokerAddress


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A Unix datagram socket listening where systemd's NOTIFY_SOCKET would point."""
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        yield sock, path


def test_notify_sends_the_message_to_the_socket(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(256) == b"READY=1"


def test_notify_reaches_an_abstract_socket() -> None:
    name = f"shanshui-test-{secrets.token_hex(6)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(10)
        assert systemd.notify("WATCHDOG=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(256) == b"WATCHDOG=1"


def test_notify_outside_systemd_or_to_a_vanished_socket_does_nothing(tmp_path: Path) -> None:
    assert not systemd.notify("READY=1", {})
    assert not systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "abc"}, None),
        ({"WATCHDOG_USEC": "60000000"}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid())}, 30.0),
        ({"WATCHDOG_USEC": "60000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_sec_and_only_for_this_process(
    environ: dict[str, str], expected: float | None
) -> None:
    assert systemd.watchdog_interval_s(environ) == expected


def test_agent_reports_ready_pings_the_watchdog_and_says_stopping(
    notify_socket: tuple[socket.socket, str],
    mqtt_broker: BrokerAddress,
    topic_root: str,
    tmp_path: Path,
) -> None:
    sock, path = notify_socket
    with socket.socket() as closed:  # a Modbus port nobody serves: the device degrades
        closed.bind(("127.0.0.1", 0))
        modbus_port = closed.getsockname()[1]
    config = write_gateway(
        tmp_path,
        gateway_id=f"gw-{secrets.token_hex(4)}",
        mqtt_port=mqtt_broker.port,
        topic_root=topic_root,
        modbus_port=modbus_port,
        slaves={"th1": 1},
    )
    env = {k: v for k, v in os.environ.items() if k != "SHANSHUI_GATEWAY_SECRET"}
    env |= {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"}  # ping every 0.1 s
    agent = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert sock.recv(256) == b"READY=1"
        assert sock.recv(256) == b"WATCHDOG=1"
        assert sock.recv(256) == b"WATCHDOG=1"  # repeated, not once
        agent.send_signal(signal.SIGTERM)
        while (message := sock.recv(256)) == b"WATCHDOG=1":
            pass
        assert message == b"STOPPING=1"
        assert agent.wait(timeout=30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
