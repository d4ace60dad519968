"""``shanshui demo``: the whole path of a reading on one machine, from nothing.

Layer: composition. Starts an embedded PostgreSQL and MQTT broker (in this
process's care), registers a demo gateway with a fresh secret, then runs the
cloud, a simulated Modbus station and the edge agent as child processes, each
through the same ``shanshui`` commands an operator would type. Prints the URL
of the latest readings once the first reading has made the whole trip, and
stops everything on Ctrl-C (or SIGTERM): edge agent first, database last.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from cloud.embedded.broker import EmbeddedBroker, free_port
from cloud.embedded.postgres import EmbeddedPostgres
from cloud.services import EMBEDDED_DATABASE, embedded_secret_key_text
from cloud.storage.admin import ensure_database
from shanshui.children import Children

log = logging.getLogger(__name__)

GATEWAY_ID = "demo-gw"
DEMO_KEY_NAME = "shanshui-demo"
MODEL = "jxct-th-rs485"
FIRST_READING_TIMEOUT_S = 60.0


class DemoError(RuntimeError):
    """The demo could not reach a running state; the message says which part failed."""


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the demo's servers (the usual ones when free)."""

    mqtt: int
    http: int
    modbus: int

    @classmethod
    def choose(cls) -> Ports:
        """1883, 8000 and 5020 when free, else any free port."""
        return cls(mqtt=_port_or_free(1883), http=_port_or_free(8000), modbus=_port_or_free(5020))


def _port_or_free(preferred: int, host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        # as the servers themselves do, so a port in TIME_WAIT after the last demo counts as free
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, preferred))
        except OSError:
            return free_port(host)
    return preferred


def run_demo(data_dir: Path, ready: threading.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM; ``ready`` is set once readings reach the API."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _STOP_SIGNALS}
    try:
        with _stack(data_dir) as (children, base, key):
            latest = f"{base}/api/v1/gateways/{GATEWAY_ID}/latest"
            print(
                "\nShanshui demo is running.\n\n"
                f"  Latest readings of the simulated station (JSON):\n"
                f"      curl -H 'Authorization: Bearer {key}' {latest}\n"
                f"  Dashboard (signs in with the demo's admin key):\n"
                f"      {base}/login#key={key}\n"
                f"  Technician view of the gateway:\n"
                f"      {base}/?gateway={GATEWAY_ID}\n"
                f"  API docs:   {base}/docs\n"
                f"  Logs:       {data_dir / 'logs'}\n"
                f"  Cloud commands on the demo's database, e.g.:\n"
                f"      SHANSHUI_DATA_DIR={data_dir} {_command()} cloud dead-letters\n\n"
                "Press Ctrl-C to stop.\n",
                flush=True,
            )
            if ready is not None:
                ready.set()
            while not stop.wait(1.0):
                if dead := children.exited():
                    raise DemoError(f"{dead[0][0]} exited with code {dead[0][1]}; see its log")
            print("\nStopping ...", flush=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("Stopped: every process the demo started has exited.", flush=True)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _command() -> str:
    """How to call ``shanshui`` from the demo's shell: the venv's script when not on PATH."""
    script = Path(sys.executable).parent / "shanshui"
    return (
        str(script) if script.exists() and shutil.which("shanshui") != str(script) else "shanshui"
    )


@contextmanager
def _stack(data_dir: Path) -> Iterator[tuple[Children, str, str]]:
    ports = Ports.choose()
    with ExitStack() as stack:
        _say("starting PostgreSQL (embedded)")
        database = stack.enter_context(EmbeddedPostgres(data_dir / "postgres"))
        _say(f"starting MQTT broker (embedded rumqttd) on 127.0.0.1:{ports.mqtt}")
        broker = stack.enter_context(EmbeddedBroker(port=ports.mqtt))
        # the database `shanshui cloud ...` uses with SHANSHUI_DATA_DIR set to data_dir
        env = {
            "SHANSHUI_DATABASE_URL": ensure_database(database.url(), EMBEDDED_DATABASE),
            "SHANSHUI_MQTT_URL": broker.url,
            "SHANSHUI_HTTP_HOST": "127.0.0.1",
            "SHANSHUI_HTTP_PORT": str(ports.http),
            "SHANSHUI_DATA_DIR": str(data_dir),
            # the demo's database is embedded: its key is kept next to it (0600)
            "SHANSHUI_SECRET_KEY": embedded_secret_key_text(data_dir),
        }
        children = Children(data_dir / "logs")
        stack.callback(children.stop_all)
        _say("migrating the database")
        _shanshui(["cloud", "migrate"], env)
        gateway_yaml = _provision_gateway(data_dir, env, ports)
        key = _admin_key(env)
        _say(
            f"starting the cloud (API on http://127.0.0.1:{ports.http}, ingest worker, "
            "alarm evaluator)"
        )
        children.spawn("cloud", ["cloud", "serve"], env)
        base = f"http://127.0.0.1:{ports.http}"
        # The edge agent announces itself once, on connect: let ingest subscribe first.
        _wait_for(f"{base}/healthz", key, _ingest_connected, children, "the cloud to start")
        _say(f"starting a simulated {MODEL} station on Modbus TCP 127.0.0.1:{ports.modbus}")
        children.spawn("simulator", _simulator_args(ports), env)
        _say(f"starting the edge agent for gateway {GATEWAY_ID}")
        started_ms = int(time.time() * 1000)
        children.spawn("edge", ["edge", "run", "--config", str(gateway_yaml)], env)
        latest = f"{base}/api/v1/gateways/{GATEWAY_ID}/latest"
        # a re-run finds the last run's series: wait for a reading of this run
        fresh = functools.partial(_has_series, since_ms=started_ms)
        _wait_for(latest, key, fresh, children, "the first reading to reach the API")
        yield children, base, key


def _simulator_args(ports: Ports) -> list[str]:
    return [
        "sim",
        "modbus-tcp",
        "--host",
        "127.0.0.1",
        "--port",
        str(ports.modbus),
        "--model",
        MODEL,
        "--slave",
        "1",
        "--update-interval-s",
        "1",
    ]


def _provision_gateway(data_dir: Path, env: dict[str, str], ports: Ports) -> Path:
    """Register the demo gateway with a new secret and write its gateway.yaml."""
    edge_dir = data_dir / "edge"
    edge_dir.mkdir(parents=True, exist_ok=True)
    secret_file = edge_dir / "gateway.secret"
    secret_file.unlink(missing_ok=True)
    _say(f"registering gateway {GATEWAY_ID} with a fresh secret")
    add = ["cloud", "gateway", "add", GATEWAY_ID, "--secret-file", str(secret_file)]
    added = _shanshui(add, env, check=False)
    if added.returncode != 0:
        if "already registered" not in added.stderr:
            raise DemoError(f"registering {GATEWAY_ID} failed:\n{added.stderr}")
        # A previous demo registered it: rotate, as an operator re-provisioning would.
        rotate = [
            "cloud",
            "gateway",
            "rotate-secret",
            GATEWAY_ID,
            "--secret-file",
            str(secret_file),
        ]
        _shanshui(rotate, env)
    config = {
        "gateway": {"id": GATEWAY_ID, "secret_file": "gateway.secret", "data_dir": "var"},
        "mqtt": {"host": "127.0.0.1", "port": ports.mqtt},
        "publish": {"max_batch_readings": 200, "max_delay_s": 1.0},
        "buses": [
            {
                "name": "station-1",
                "type": "modbus_tcp",
                "host": "127.0.0.1",
                "port": ports.modbus,
                "timeout_s": 1.0,
                "devices": [{"id": "th1", "model": MODEL, "slave": 1, "interval_s": 2}],
            }
        ],
    }
    path = edge_dir / "gateway.yaml"
    path.write_text("# written by shanshui demo\n" + yaml.safe_dump(config, sort_keys=False))
    return path


def _admin_key(env: dict[str, str]) -> str:
    """A fresh platform admin key for this run (the previous run's keys are revoked)."""
    _say("issuing an admin API key for the demo")
    listed = _shanshui(["cloud", "key", "list"], env).stdout
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) > 5 and fields[-1] == DEMO_KEY_NAME and fields[4] == "active":
            _shanshui(["cloud", "key", "revoke", fields[0]], env)
    added = _shanshui(["cloud", "key", "add", DEMO_KEY_NAME, "--role", "admin"], env)
    return added.stdout.strip()


def _wait_for(
    url: str, key: str, ready: Callable[[object], bool], children: Children, what: str
) -> None:
    """Poll ``url`` until ``ready(json)``; fail early if a child dies."""
    deadline = time.monotonic() + FIRST_READING_TIMEOUT_S
    _say(f"waiting for {what}", end="")
    while time.monotonic() < deadline:
        if dead := children.exited():
            raise DemoError(f"{dead[0][0]} exited with code {dead[0][1]}; see its log")
        if ready(_get_json(url, key)):
            print(" done", flush=True)
            return
        print(".", end="", flush=True)
        time.sleep(0.5)  # polling an HTTP API from outside: there is no event to wait on
    raise DemoError(f"{url} not ready within {FIRST_READING_TIMEOUT_S:.0f} s")


def _get_json(url: str, key: str) -> object:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310 - our loopback URL
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _ingest_connected(body: object) -> bool:
    return isinstance(body, dict) and bool((body.get("ingest") or {}).get("connected"))


def _has_series(body: object, since_ms: int = 0) -> bool:
    if not isinstance(body, dict) or not isinstance(body.get("series"), list):
        return False
    return any(
        isinstance(s, dict) and isinstance(s.get("time_ms"), int) and s["time_ms"] >= since_ms
        for s in body["series"]
    )


def _shanshui(
    args: list[str], env: dict[str, str], check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "shanshui", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise DemoError(f"shanshui {' '.join(args[:3])} failed:\n{result.stderr or result.stdout}")
    return result


def _say(message: str, end: str = "\n") -> None:
    print(f"• {message}", end=end, flush=True)
