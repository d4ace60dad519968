"""The embedded servers start, stop, and recover from a run that was killed."""

from __future__ import annotations

import socket
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest

from cloud.embedded.broker import EmbeddedBroker
from cloud.embedded.postgres import EmbeddedPostgres


def _postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.pgdata / "postmaster.pid").read_text().splitlines()[0])


def _alive(pid: int) -> bool:
    """True for a running process; a zombie awaiting its reaper does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_postgres_survives_a_run_that_never_stopped_it(tmp_path: Path) -> None:
    first = EmbeddedPostgres(tmp_path / "db").start()
    with psycopg.connect(first.url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    orphan_pid = _postmaster_pid(first)
    # The first owner dies without stop(): the kernel drops its owner lock, nothing else.
    first._release_ownership()
    second = EmbeddedPostgres(tmp_path / "db").start()
    try:
        assert not _alive(orphan_pid)
        with psycopg.connect(second.url()) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    finally:
        second.stop()
    assert not (second.pgdata / "postmaster.pid").exists()


def test_a_second_user_attaches_and_leaves_the_owners_server_running(tmp_path: Path) -> None:
    owner = EmbeddedPostgres(tmp_path / "db").start()
    try:
        guest = EmbeddedPostgres(tmp_path / "db").start()
        assert owner.owned
        assert not guest.owned
        pid = _postmaster_pid(owner)
        guest.stop()
        assert _alive(pid)
        with psycopg.connect(owner.url()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        owner.stop()
    assert not _alive(pid)


def test_postgres_listens_on_no_tcp_port(tmp_path: Path) -> None:
    with EmbeddedPostgres(tmp_path / "db") as server, psycopg.connect(server.url()) as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
        assert row == ("",)
        assert (server.socket_dir.stat().st_mode & 0o777) == 0o700


def test_broker_delivers_and_releases_its_port() -> None:
    with EmbeddedBroker(port=0) as broker:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        client.connect(broker.host, broker.port)
        client.loop_start()
        try:
            info = client.publish("probe", b"x", qos=1)
            info.wait_for_publish(timeout=5)
            assert info.is_published()
        finally:
            client.loop_stop()
            client.disconnect()
        port = broker.port
    with socket.socket() as sock:
        # free again once the broker stopped: nothing listens on it. SO_REUSEADDR as
        # any server sets it: the broker may have closed the connection first, leaving
        # it in TIME_WAIT on this port, which a plain bind refuses (a flaky EADDRINUSE)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_broker_refuses_a_taken_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(OSError, match=r"in use|Address"):
            EmbeddedBroker(port=sock.getsockname()[1]).start()


def test_broker_accepts_a_catch_up_sized_batch() -> None:
    """rumqttd's 20 KiB default would drop a gateway sending a 500-reading backlog batch."""
    with EmbeddedBroker(port=0) as broker:
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        try:
            info = pub.publish("big", b"x" * 300_000, qos=1)
            info.wait_for_publish(timeout=5)
            assert info.is_published()
        finally:
            pub.loop_stop()
            pub.disconnect()
