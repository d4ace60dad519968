"""Chaos on real servers: kill -9 the ingest worker, the broker and the agent; lose nothing.

The agent (a subprocess) polls a simulated Modbus TCP station every second
while the test kills the ingest worker (a subprocess) with SIGKILL, kills the
broker while batches wait in it, restarts the broker while the worker is still
down, starts the worker again, and kills the agent mid-stream and restarts it.
Afterwards every reading that entered the agent's outbox (test-only SQLite
triggers record them, see ``tests.edge.support.journal_outbox``) is in
PostgreSQL exactly once, compared by (device, quantity, timestamp), and no
sequence number was sealed twice.

Two brokers: Mosquitto with persistence as deployed (``deploy/cloud/mosquitto.conf``,
without the accounts) and a persistent ingest session, and the embedded rumqttd
with a clean ingest session, where a broker restart forgets everything.
The processes are other processes, so the test waits by polling their
observable state (the outbox file, the database) with a deadline.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cloud.embedded.broker import MAX_PAYLOAD_BYTES, free_port
from cloud.storage import Storage
from cloud.storage.sealing import SecretKey
from edge.config import load_config
from edge.status import STATUS_FILE
from shanshui.children import die_with_parent
from simulators.modbus_tcp import SimulatedStation
from tests.e2e.support import outbox_counts, stored
from tests.edge.support import journal_outbox, journaled, write_gateway
from tests.fix_broker import find_mosquitto, wait_until_listening

pytestmark = pytest.mark.e2e

MODEL = "jxct-th-rs485"
STEP_TIMEOUT_S = 60.0  # a wait for an event, not a timing: CI's 2 cores are busy
POLL_S = 0.1


class Broker:
    """A broker in a child process that the test can kill -9 and start again on its port."""

    def __init__(self, kind: str, folder: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self._folder = folder
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.kind == "mosquitto":
            mosquitto = find_mosquitto()
            assert mosquitto is not None
            conf = self._folder / "mosquitto.conf"
            conf.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                f"persistence true\npersistence_location {self._folder}/\n"
                "max_queued_messages 100000\nlog_type error\n"
            )
            command = [mosquitto, "-c", str(conf)]
        else:
            options = {"config_path": None, "listen": "127.0.0.1", "port": self.port}
            options["max_payload_size"] = MAX_PAYLOAD_BYTES
            serve = "from iotcore._serve import main; main()"
            command = [sys.executable, "-c", serve, json.dumps(options)]
        # stdin: the rumqttd child exits when this pipe closes (mosquitto ignores it)
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        wait_until_listening("127.0.0.1", self.port, self._process)

    def kill(self) -> None:
        kill(self._process)


def kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    if process is not None and process.stdin is not None:
        process.stdin.close()


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shanshui", *args],
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )


@contextmanager
def reaped(processes: list[subprocess.Popen[bytes]]) -> Iterator[None]:
    try:
        yield
    finally:
        for process in processes:
            kill(process)


async def until(
    what: str, condition: Callable[[], object], timeout_s: float = STEP_TIMEOUT_S
) -> None:
    """Poll another process's observable state until ``condition()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"not within {timeout_s:g} s: {what}")
        await asyncio.sleep(POLL_S)


def online(data_dir: Path) -> bool:
    """Whether the agent has written its status (it is running, signal handlers in place)."""
    try:
        return bool(json.loads((data_dir / STATUS_FILE).read_bytes())["state"] == "online")
    except (OSError, ValueError, KeyError):
        return False


def sealed(data_dir: Path) -> int:
    """Batches ever sealed (the journal of the outbox)."""
    try:
        return len(journaled(data_dir)[1])
    except sqlite3.OperationalError:  # locked for a moment by the agent's write
        return 0


@pytest.mark.parametrize("kind", ["mosquitto", "rumqttd"])
def test_nothing_is_lost_or_doubled_whatever_is_killed(
    kind: str, migrated_database_url: str, tmp_path: Path
) -> None:
    if kind == "mosquitto" and find_mosquitto() is None:
        pytest.skip("mosquitto is not installed")
    gateway = f"gw-chaos-{secrets.token_hex(3)}"
    topic_root = f"chaos/{secrets.token_hex(4)}/shanshui/v1"
    broker = Broker(kind, tmp_path)
    processes: list[subprocess.Popen[bytes]] = []
    env = {
        "SHANSHUI_DATABASE_URL": migrated_database_url,
        "SHANSHUI_MQTT_URL": f"mqtt://127.0.0.1:{broker.port}",
        "SHANSHUI_TOPIC_ROOT": topic_root,
        # the gateway is registered in plaintext below; the worker seals it on first use
        "SHANSHUI_SECRET_KEY": SecretKey.generate_text(),
    }
    if kind == "mosquitto":  # a persistent session: the broker queues for the worker
        env["SHANSHUI_INGEST_CLIENT_ID"] = f"chaos-worker-{secrets.token_hex(3)}"

    def worker() -> subprocess.Popen[bytes]:
        processes.append(spawn(["cloud", "ingest"], env, tmp_path / "worker.log"))
        return processes[-1]

    def agent(config: Path) -> subprocess.Popen[bytes]:
        processes.append(spawn(["edge", "run", "-c", str(config)], {}, tmp_path / "agent.log"))
        return processes[-1]

    async def scenario() -> None:
        async with (
            Storage(migrated_database_url) as storage,
            SimulatedStation.for_model(MODEL, [1, 2], port=0) as station,
        ):
            options = {
                "gateway_id": gateway,
                "mqtt_port": broker.port,
                "topic_root": topic_root,
                "modbus_port": station.port,
                "interval_s": 1.0,
                "max_delay_s": 1.0,
                "secret": await storage.register_gateway(gateway),
                "ack_timeout_s": 2.0,
            }
            config = write_gateway(tmp_path, slaves={"th1": 1, "th2": 2}, **options)
            data_dir = load_config(config, environ={}).data_dir
            journal_outbox(data_dir)

            async def stored_at_least(n: int) -> int:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + STEP_TIMEOUT_S
                while (count := len(await stored(storage, gateway, ["th1", "th2"]))) < n:
                    if loop.time() > deadline:
                        raise TimeoutError(f"{count} readings stored, not {n}")
                    await asyncio.sleep(POLL_S)
                return count

            async def more_batches(n: int) -> None:
                target = sealed(data_dir) + n
                await until(f"{n} more batches sealed", lambda: sealed(data_dir) >= target)

            broker.start()
            ingest = worker()
            edge = agent(config)
            count = await stored_at_least(4)  # the whole path works
            kill(ingest)  # 1. the worker dies
            await more_batches(3)  # batches sent while no worker holds the subscription
            broker.kill()  # 2. the broker dies with batches waiting in it
            broker.start()  # 3. and comes back while the worker is still down
            await more_batches(2)
            worker()  # the worker is back
            await stored_at_least(count + 8)
            kill(edge)  # 4. the agent dies mid-stream ...
            edge = agent(config)  # ... and is restarted (by systemd, in the field)
            await more_batches(3)
            edge.send_signal(signal.SIGTERM)
            assert edge.wait(timeout=30) == 0
            # what still waits goes out with the same agent polling nothing
            config = write_gateway(tmp_path, slaves={}, with_bus=False, **options)
            (data_dir / STATUS_FILE).unlink()
            edge = agent(config)
            await until("the agent up", lambda: online(data_dir))
            await until("the outbox empty", lambda: outbox_counts(data_dir) == (0, 0, 0))
            edge.send_signal(signal.SIGTERM)
            assert edge.wait(timeout=30) == 0

            held, seqs = journaled(data_dir)
            assert len(seqs) == len(set(seqs)), "a seq was sealed twice"
            assert len(held) >= 40
            got = await stored(storage, gateway, ["th1", "th2"])
            assert Counter(got) == Counter(held)  # every reading once: none lost, none doubled

    with reaped(processes):
        try:
            asyncio.run(asyncio.wait_for(scenario(), 120))
        finally:
            broker.kill()
