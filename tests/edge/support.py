"""Helpers for edge tests: a subscriber that waits on messages, a TCP proxy that can go down,
a stand-in for the cloud's ingest worker that settles batches with signed acks, and the
agent setups the tests share (a gateway.yaml for a station, a running Supervisor)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.app import Agent
from edge.config import EdgeConfig
from edge.outbox import OutboxStore
from edge.remote import Supervisor
from edge.uplink.paho_client import release_sockets
from simulators.modbus_tcp import SimulatedStation
from wire import WireError, open_envelope, verify_envelope
from wire.ack import Ack, Refusal, sign_ack
from wire.signing import verify_object

SECRET = bytes(range(100, 132))
MODEL = "jxct-th-rs485"


def run(scenario: Callable[[], Awaitable[None]], timeout_s: float = 90.0) -> None:
    """Run an async test scenario with a deadline."""
    asyncio.run(asyncio.wait_for(scenario(), timeout=timeout_s))


def quick_agent(config: EdgeConfig) -> Agent:
    """An agent that does not linger on shutdown (tests swap agents often)."""
    return Agent(config, shutdown_timeout_s=0.5)


@contextlib.asynccontextmanager
async def supervised(
    path: Path,
    *,
    connect_timeout_s: float = 20.0,
    agent_factory: Callable[[EdgeConfig], Agent] = quick_agent,
) -> AsyncIterator[Supervisor]:
    """A Supervisor running ``path`` (agent connected, control channel subscribed)."""
    supervisor = Supervisor(
        path, environ={}, connect_timeout_s=connect_timeout_s, agent_factory=agent_factory
    )
    stop = asyncio.Event()
    task = asyncio.create_task(supervisor.run(stop))
    try:
        await supervisor.wait_ready(20)
        yield supervisor
    finally:
        stop.set()
        await task


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


class MqttProbe:
    """A real paho subscriber; messages arrive in an asyncio queue (no sleeping)."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self._host, self._port, self._topic = host, port, topic
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self.messages: asyncio.Queue[Message] = asyncio.Queue()
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> MqttProbe:
        loop = asyncio.get_running_loop()

        def on_connect(client: paho.Client, *_args: Any) -> None:
            client.subscribe(self._topic, qos=1)

        def on_subscribe(*_args: Any) -> None:
            loop.call_soon_threadsafe(self._subscribed.set)

        def on_message(_client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
            message = Message(msg.topic, bytes(msg.payload), bool(msg.retain))
            loop.call_soon_threadsafe(self.messages.put_nowait, message)

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = on_message
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        release_sockets(self._client)

    async def next(self, timeout_s: float = 10.0) -> Message:
        return await asyncio.wait_for(self.messages.get(), timeout_s)

    async def next_on(self, topic: str, timeout_s: float = 10.0) -> Message:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            message = await self.next(max(0.0, deadline - loop.time()))
            if message.topic == topic:
                return message


def status_of(payload: bytes, secret: bytes = SECRET) -> dict[str, Any]:
    """A gateway's status message, its in-place signature verified and removed."""
    body: dict[str, Any] = json.loads(verify_object(payload, secret))
    return body


class CloudAcker:
    """What the ingest worker does for the edge, without a database: verify, then ack.

    Subscribes to every gateway's telemetry under ``topic_root``, verifies each
    batch with ``secret`` and publishes a signed ack on the gateway's
    ``down/ack`` (a refusal with the reason, for what does not verify). The edge
    tests use it where the real worker (tests/e2e) would need PostgreSQL.
    ``paused`` stops acking, as a worker that is down; ``seqs`` records what came.
    """

    def __init__(self, host: str, port: int, topic_root: str, secret: bytes = SECRET) -> None:
        self._host, self._port, self._root = host, port, topic_root
        self.secret = secret
        self.paused = False
        self.seqs: list[int] = []
        self._client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> CloudAcker:
        loop = asyncio.get_running_loop()

        def on_connect(client: paho.Client, *_args: Any) -> None:
            client.subscribe(f"{self._root}/+/up/telemetry", qos=1)

        def on_subscribe(*_args: Any) -> None:
            loop.call_soon_threadsafe(self._subscribed.set)

        self._client.on_connect = on_connect
        self._client.on_subscribe = on_subscribe
        self._client.on_message = self._on_message
        self._client.connect(self._host, self._port)
        self._client.loop_start()
        await asyncio.wait_for(self._subscribed.wait(), timeout=10)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)
        release_sockets(self._client)

    def _on_message(self, client: paho.Client, _userdata: Any, msg: paho.MQTTMessage) -> None:
        if self.paused:
            return
        signed = open_envelope(bytes(msg.payload))
        try:
            batch = verify_envelope(signed, self.secret)
        except WireError as exc:
            seq = json.loads(signed.body)["seq"]
            ack = Ack(signed.gateway_id, refused=(Refusal(seq, exc.reason, signed.signature[:8]),))
        else:
            self.seqs.append(batch.seq)
            ack = Ack(batch.gateway_id, (batch.seq,))
        topic = f"{self._root}/{signed.gateway_id}/down/ack"
        client.publish(topic, sign_ack(ack, self.secret), qos=1)


class TcpProxy:
    """Forwards a loopback port to a target; ``down`` refuses and drops connections.

    While down the port stays bound but not listening, so connects are refused
    at once and nothing else can take the port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._sock = self._bound_socket(0)
        self.port: int = self._sock.getsockname()[1]
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, sock=self._sock)

    async def down(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None
        self._sock = self._bound_socket(self.port)

    async def close(self) -> None:
        await self.down()
        self._sock.close()

    def _bound_socket(self, port: int) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        return sock

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            self._writers.difference_update((writer, up_writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.transport.abort()


def write_gateway(
    folder: Path,
    *,
    gateway_id: str,
    mqtt_port: int,
    topic_root: str,
    modbus_port: int,
    slaves: dict[str, int],
    interval_s: float = 0.1,
    max_delay_s: float = 0.2,
    max_batch_readings: int = 500,
    status_interval_s: float | None = None,
    secret: bytes = SECRET,
    ack_timeout_s: float | None = None,
    quarantine_after_sends: int | None = None,
    with_bus: bool = True,
) -> Path:
    """Write gateway.yaml and its secret into ``folder``; return the yaml path."""
    (folder / "gateway.secret").write_text(secret.hex() + "\n")
    publish: dict[str, float] = {
        "max_batch_readings": max_batch_readings,
        "max_delay_s": max_delay_s,
    }
    if status_interval_s is not None:
        publish["status_interval_s"] = status_interval_s
    if ack_timeout_s is not None:
        publish["ack_timeout_s"] = ack_timeout_s
    if quarantine_after_sends is not None:
        publish["quarantine_after_sends"] = quarantine_after_sends
    document = {
        "gateway": {"id": gateway_id, "secret_file": "gateway.secret", "data_dir": "var"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic_root": topic_root},
        "publish": publish,
        "buses": [
            {
                "name": "station-1",
                "type": "modbus_tcp",
                "host": "127.0.0.1",
                "port": modbus_port,
                "timeout_s": 0.2,
                "devices": [
                    {
                        "id": device,
                        "model": "jxct-th-rs485",
                        "slave": slave,
                        "interval_s": interval_s,
                    }
                    for device, slave in slaves.items()
                ],
            }
        ],
    }
    if not with_bus:
        document["buses"] = []
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@contextlib.asynccontextmanager
async def station_and_gateway(
    folder: Path,
    gateway_id: str,
    *,
    mqtt_port: int,
    topic_root: str,
    slaves: dict[str, int] | None = None,
    **options: Any,
) -> AsyncIterator[tuple[SimulatedStation, Path]]:
    """A simulated station (values fixed) and a gateway.yaml polling it; yields both.

    ``slaves`` maps device ids to slave addresses (default ``{"th1": 1}``);
    ``options`` go to :func:`write_gateway`.
    """
    slaves = {"th1": 1} if slaves is None else slaves
    async with SimulatedStation.for_model(
        MODEL, sorted(slaves.values()), update_interval_s=None
    ) as station:
        path = write_gateway(
            folder,
            gateway_id=gateway_id,
            mqtt_port=mqtt_port,
            topic_root=topic_root,
            modbus_port=station.port,
            slaves=slaves,
            **options,
        )
        yield station, path


def write_idle_gateway(
    folder: Path, gateway_id: str, *, mqtt_port: int, topic_root: str, secret: bytes = SECRET
) -> Path:
    """A gateway.yaml with no bus: an agent that only talks to the cloud (control tests)."""
    return write_gateway(
        folder,
        gateway_id=gateway_id,
        mqtt_port=mqtt_port,
        topic_root=topic_root,
        modbus_port=1,
        slaves={},
        secret=secret,
        with_bus=False,
    )


JOURNAL_SQL = """
CREATE TABLE IF NOT EXISTS test_journal (device TEXT, quantity TEXT, time_ms INTEGER);
CREATE TABLE IF NOT EXISTS test_seqs (seq INTEGER);
CREATE TRIGGER IF NOT EXISTS test_journal_pending AFTER INSERT ON pending BEGIN
    INSERT INTO test_journal VALUES (new.device, new.quantity, new.time_ms);
END;
CREATE TRIGGER IF NOT EXISTS test_journal_batches AFTER INSERT ON batches BEGIN
    INSERT INTO test_seqs VALUES (new.seq);
END;
"""


def journal_outbox(data_dir: Path) -> None:
    """Create the outbox in ``data_dir`` with triggers that keep what ever entered it.

    Every reading enqueued (in the same transaction, so exactly the durable ones)
    and every seq sealed is copied to test-only tables that nothing deletes, so a
    test can compare what the gateway held with what the database got.
    """
    OutboxStore.open(data_dir).close()
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        db.executescript(JOURNAL_SQL)
    finally:
        db.close()


def journaled(data_dir: Path) -> tuple[list[tuple[str, str, int]], list[int]]:
    """What entered the outbox since :func:`journal_outbox`: readings and sealed seqs."""
    db = sqlite3.connect(data_dir / "outbox.sqlite3")
    try:
        readings = [(d, q, int(t)) for d, q, t in db.execute("SELECT * FROM test_journal")]
        seqs = [int(s) for (s,) in db.execute("SELECT seq FROM test_seqs")]
    finally:
        db.close()
    return readings, seqs
