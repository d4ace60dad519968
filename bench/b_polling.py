"""Polling: Modbus TCP and RTU request rates, and the agent's CPU and memory with 64 devices.

Modbus TCP requests/s and registers/s; RTU at 9600 baud as a fraction of the
bus's theoretical limit; CPU and peak RSS of the agent polling 64 devices.

The simulators run in their own processes (``shanshui sim``), so the figures
are the edge side's. The agent figures come from ``shanshui edge run`` itself
(its CPU seconds and peak RSS read from /proc), polling 64 devices every second
on four simulated RTU buses at 19200 baud, with Mosquitto as its broker when
installed (else the uplink stays offline and the outbox keeps everything).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from device_profiles import Profile
from edge.bus_timing import read_transaction_s
from edge.polling.buses import master_for_line
from edge.polling.modbus_master import ModbusMaster
from simulators.modbus_tcp import SimulatedStation

TCP_SECONDS = 3.0
RTU_SECONDS = 5.0
AGENT_SECONDS = float(os.environ.get("SHANSHUI_BENCH_AGENT_S", "20"))
AGENT_BUSES, DEVICES_PER_BUS = 4, 16
RTU_LATENCY_MS = 5.0
PYTHON = sys.executable


def run() -> None:
    """Print the polling figures of this machine."""
    _tcp_throughput()
    _rtu_fraction()
    _agent_footprint()


def _tcp_throughput() -> None:
    ports: multiprocessing.Queue[int] = multiprocessing.Queue()
    station = multiprocessing.Process(target=_serve_wide_station, args=(ports,), daemon=True)
    station.start()
    try:
        port = ports.get(timeout=30)
        for count in (2, 125):
            master = master_for_line(
                serial_port=None, host="127.0.0.1", tcp_port=port, rtu_over_tcp=False
            )
            done = asyncio.run(_hammer(master, start=0, count=count, seconds=TCP_SECONDS))
            rate = done / TCP_SECONDS
            print(
                f"  modbus tcp, {count:>3} registers per request, one connection: "
                f"{rate:,.0f} requests/s = {rate * count:,.0f} registers/s"
            )
    finally:
        station.terminate()
        station.join(timeout=10)


def _wide_profile() -> Profile:
    """125 contiguous uint16 points: one full read per request."""
    points = [
        {"name": f"p{a}", "quantity": "relative_humidity", "address": a, "data_type": "uint16"}
        for a in range(125)
    ]
    document = {"model": "bench-wide", "manufacturer": "bench", "description": "bench"}
    return Profile.model_validate({**document, "source": "bench", "points": points})


def _serve_wide_station(ports: multiprocessing.Queue[int]) -> None:
    station = SimulatedStation({1: _wide_profile()}, update_interval_s=None)
    station.run_forever(on_listening=lambda running: ports.put(running.port))


def _rtu_fraction() -> None:
    args = ["modbus-rtu", "--device", "1:jxct-th-rs485", "--latency-ms", str(RTU_LATENCY_MS)]
    with _simulator(*args) as line:
        port = line.split(" on ", 1)[1].split()[0]
        master = master_for_line(
            serial_port=port, host="", tcp_port=0, rtu_over_tcp=False, baudrate=9600
        )
        done = asyncio.run(_hammer(master, start=0, count=2, seconds=RTU_SECONDS))
    achieved = done / RTU_SECONDS
    limit = 1 / read_transaction_s(2, 9600, latency_s=RTU_LATENCY_MS / 1000)
    print(
        f"  modbus rtu 9600 8N1 (pty, wire time simulated), 2 registers, slave latency "
        f"{RTU_LATENCY_MS:g} ms: {achieved:.1f} requests/s of a theoretical {limit:.1f}/s "
        f"= {achieved / limit:.0%} of the bus's limit"
    )


async def _hammer(master: ModbusMaster, *, start: int, count: int, seconds: float) -> int:
    done = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            await master.read(1, 3, start, count, 1.0)
            done += 1
    finally:
        master.close()
    return done


def _agent_footprint() -> None:
    with tempfile.TemporaryDirectory(prefix="shanshui-bench-") as tmp:
        folder = Path(tmp)
        sims = [
            _start_simulator(
                "modbus-rtu",
                *[
                    arg
                    for s in range(1, DEVICES_PER_BUS + 1)
                    for arg in ("--device", f"{s}:jxct-th-rs485")
                ],
            )
            for _ in range(AGENT_BUSES)
        ]
        broker = _start_broker()
        try:
            ports = [line.split(" on ", 1)[1].split()[0] for _, line in sims]
            config = _gateway_yaml(folder, ports, broker[1] if broker else 1)
            log_path = folder / "agent.log"
            log_file = log_path.open("w")
            agent = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [PYTHON, "-m", "edge", "run", "--config", str(config)],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
            try:
                time.sleep(3.0)  # start-up (imports, first connect) is not the steady state
                cpu_start = _cpu_s(agent.pid)
                time.sleep(AGENT_SECONDS)  # the measured window itself
                cpu_s = _cpu_s(agent.pid) - cpu_start
                peak_kib = _peak_rss_kib(agent.pid)
            finally:
                agent.send_signal(signal.SIGTERM)
                agent.wait(timeout=30)
                log_file.close()
            degraded = log_path.read_text().count(" degraded: ")
        finally:
            for process, _ in sims:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
            if broker is not None:
                broker[0].terminate()
                broker[0].wait(timeout=10)
    devices = AGENT_BUSES * DEVICES_PER_BUS
    print(
        f"  agent (shanshui edge run), {devices} devices at 1 s on {AGENT_BUSES} RTU buses "
        f"(19200 baud), {'mosquitto' if broker else 'no broker'}: "
        f"{cpu_s:.2f} CPU s in {AGENT_SECONDS:g} s = {cpu_s / AGENT_SECONDS:.1%} of one core "
        f"({cpu_s * 60 / AGENT_SECONDS:.1f} CPU s per minute), peak RSS {peak_kib / 1024:.0f} MB; "
        f"{degraded} device(s) ever degraded"
    )


def _gateway_yaml(folder: Path, ports: list[str], mqtt_port: int) -> Path:
    (folder / "gateway.secret").write_text(os.urandom(32).hex() + "\n")
    (folder / "gateway.secret").chmod(0o600)
    buses = [
        {
            "name": f"rs485-{b}",
            "type": "modbus_rtu",
            "port": port,
            "baudrate": 19200,
            "timeout_s": 0.2,
            "devices": [
                {"id": f"b{b}d{s}", "model": "jxct-th-rs485", "slave": s, "interval_s": 1.0}
                for s in range(1, DEVICES_PER_BUS + 1)
            ],
        }
        for b, port in enumerate(ports)
    ]
    document = {
        "gateway": {"id": "gw-bench", "secret_file": "gateway.secret", "data_dir": "var"},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "buses": buses,
    }
    path = folder / "gateway.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class _simulator:  # noqa: N801 - used as a context manager, like a function
    def __init__(self, *args: str) -> None:
        self._args = args

    def __enter__(self) -> str:
        self._process, line = _start_simulator(*self._args)
        return line

    def __exit__(self, *_exc: object) -> None:
        self._process.send_signal(signal.SIGTERM)
        self._process.wait(timeout=10)


def _start_simulator(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [PYTHON, "-m", "simulators", *args], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None  # PIPE was asked for
    return process, process.stdout.readline().strip()


def _start_broker() -> tuple[subprocess.Popen[bytes], int] | None:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        return None
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    process = subprocess.Popen(  # noqa: S603 - the installed broker, our arguments
        [binary, "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)  # waiting for the broker's listener to come up
    process.terminate()
    return None


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def _peak_rss_kib(pid: int) -> int:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) if match else 0
