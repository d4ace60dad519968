"""``shanshui edge``: check-config, read and run, as a technician uses them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from device_profiles import builtin_profile
from edge.cli import app, format_values
from edge.uplink.mqtt_topics import status_topic
from simulators.modbus_tcp import SimulatedStation
from tests.edge.support import MqttProbe, write_gateway
from tests.fix_broker import BrokerAddress

runner = CliRunner()


@pytest.fixture
def station() -> Iterator[SimulatedStation]:
    """A simulated station served from its own thread (the CLI runs its own event loop)."""
    simulated = SimulatedStation.for_model("jxct-th-rs485", [1, 2], update_interval_s=None)
    listening = threading.Event()
    thread = threading.Thread(target=simulated.run_forever, args=(lambda _s: listening.set(),))
    thread.start()
    assert listening.wait(timeout=10)
    try:
        yield simulated
    finally:
        simulated.request_stop()
        thread.join(timeout=10)


def gateway_yaml(folder: Path, modbus_port: int = 5020, mqtt_port: int = 1883) -> Path:
    return write_gateway(
        folder,
        gateway_id="gw-cli-01",
        mqtt_port=mqtt_port,
        topic_root="shanshui/v1",
        modbus_port=modbus_port,
        slaves={"th1": 1, "th2": 2},
    )


def test_check_config_summarises_a_good_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check-config", str(gateway_yaml(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "bus station-1: modbus_tcp 127.0.0.1:5020" in result.output
    assert "device th2: jxct-th-rs485 slave 2" in result.output
    assert result.output.rstrip().endswith("gateway.yaml: OK")


def test_broken_config_gives_line_and_key_without_traceback(tmp_path: Path) -> None:
    path = gateway_yaml(tmp_path)
    path.write_text(path.read_text().replace("slave: 2", "slave: 300"))
    for command in (["check-config", str(path)], ["run", "--config", str(path)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2
        assert "gateway.yaml:" in result.output
        assert "buses[0].devices[1].slave: slave 300 is not a Modbus address: use 1..247" in (
            result.output
        )
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_read_prints_each_point(station: SimulatedStation) -> None:
    station.set_value(2, "temperature", -10.1)
    args = ["read", "--model", "jxct-th-rs485", "--port", str(station.port), "--slave", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    humidity = station.served(2)["humidity"]
    assert result.output.splitlines() == [
        f"{'humidity':<20} {humidity:g} %RH",
        f"{'temperature':<20} -10.1 °C",
    ]


def test_read_a_silent_slave_fails_with_a_message(station: SimulatedStation) -> None:
    station.set_offline(1, True)
    args = ["read", "--model", "jxct-th-rs485", "--port", str(station.port), "--timeout-s", "0.2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "slave 1 at 127.0.0.1" in result.output
    assert "no response (timeout)" in result.output


def test_read_unknown_model() -> None:
    result = runner.invoke(app, ["read", "--model", "acme-9000"])
    assert result.exit_code == 2
    assert "no device profile 'acme-9000'" in result.output


def test_run_goes_online_and_offline_on_sigterm(
    station: SimulatedStation, mqtt_broker: BrokerAddress, topic_root: str, tmp_path: Path
) -> None:
    gw = f"gw-{secrets.token_hex(4)}"
    path = write_gateway(
        tmp_path,
        gateway_id=gw,
        mqtt_port=mqtt_broker.port,
        topic_root=topic_root,
        modbus_port=station.port,
        slaves={"th1": 1},
    )
    env = {k: v for k, v in os.environ.items() if k != "SHANSHUI_GATEWAY_SECRET"}

    async def scenario() -> int:
        topic = status_topic(topic_root, gw)
        async with MqttProbe(mqtt_broker.host, mqtt_broker.port, topic) as probe:
            agent = await asyncio.create_subprocess_exec(
                *[sys.executable, "-m", "edge", "run", "--config", str(path)],
                env=env,
                stderr=asyncio.subprocess.DEVNULL,
            )
            try:
                assert json.loads((await probe.next(timeout_s=20)).payload)["state"] == "online"
                agent.send_signal(signal.SIGTERM)
                while (state := json.loads((await probe.next()).payload)["state"]) == "online":
                    pass  # a status republished on a device change before the signal landed
                assert state == "offline"
                return await asyncio.wait_for(agent.wait(), 20)
            finally:
                if agent.returncode is None:
                    agent.kill()
                    await agent.wait()

    assert asyncio.run(scenario()) == 0


def test_check_config_warns_about_a_secret_others_can_read(tmp_path: Path) -> None:
    path = gateway_yaml(tmp_path)
    secret = tmp_path / "gateway.secret"
    secret.chmod(0o644)
    result = runner.invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert (
        "warning: gateway.secret_file: gateway.secret is readable by other users (mode 0644)"
        in result.output
    )
    assert f"chmod o-rwx {secret}" in result.output
    for private in (0o600, 0o640):  # 0640 root:shanshui is how the Raspberry Pi unit reads it
        secret.chmod(private)
        result = runner.invoke(app, ["check-config", str(path)])
        assert "warning" not in result.output


def test_check_config_warns_about_a_gateway_without_devices(tmp_path: Path) -> None:
    path = gateway_yaml(tmp_path)
    (tmp_path / "gateway.secret").chmod(0o600)
    text = path.read_text()
    path.write_text(text[: text.index("buses:")] + "buses: []\n")
    result = runner.invoke(app, ["check-config", str(path)])
    assert result.exit_code == 0, result.output
    assert "warning: no devices configured: the gateway will poll nothing" in result.output
    assert result.output.rstrip().endswith("gateway.yaml: OK")


RTU_BUS = re.compile(r"simulated RTU bus: slaves 5,12 on (/dev/\S+)")


def test_scan_finds_simulated_devices_and_refuses_an_address_change_without_a_setting() -> None:
    command = [sys.executable, "-m", "simulators", "modbus-rtu", "--update-interval-s", "60"]
    command += ["--device", "5:jxct-th-rs485@9600", "--device", "12:jxct-th-rs485@19200"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as bus:
        try:
            assert bus.stdout is not None
            match = RTU_BUS.fullmatch(bus.stdout.readline().strip())
            assert match is not None
            args = ["scan", "--serial", match.group(1), "--baud", "9600,19200"]
            args += ["--slaves", "1-12", "--timeout-s", "0.08"]
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
            found = dict(line.split(": ", 1) for line in result.output.splitlines() if ": " in line)
            # devices with the same layout cannot be told apart: the profile is among those named
            assert "jxct-th-rs485" in found["slave 5 at 9600 8N1"].split(", ")
            assert "jxct-th-rs485" in found["slave 12 at 19200 8N1"].split(", ")
            assert "2 device(s) found" in result.output
            change = [*args[:5], "--slaves", "5", "--set-address", "5:9"]
            if len(found["slave 5 at 9600 8N1"].split(", ")) > 1:
                # several profiles read plausibly: which address register to write is not known
                result = runner.invoke(app, change)
                assert result.exit_code == 1
                assert "slave 5 matches several profiles (" in result.output
                assert "give --model" in result.output
            result = runner.invoke(app, [*change, "--model", "jxct-th-rs485"])
            assert result.exit_code == 1
            assert "profile jxct-th-rs485 does not say how to change the address" in result.output
        finally:
            bus.send_signal(signal.SIGTERM)
            bus.wait(timeout=10)


def test_scan_usage_errors_exit_2() -> None:
    for option, value, message in (
        ("--baud", "fast", "baud rate 'fast' is not a whole number"),
        ("--slaves", "1-x", "address 'x' is not a whole number"),
        ("--set-address", "a:3", "address 'a' is not a whole number"),
    ):
        result = runner.invoke(app, ["scan", "--serial", "/dev/null", option, value])
        assert result.exit_code == 2, result.output
        assert result.output.strip() == f"error: {message}"
    result = runner.invoke(app, ["scan", "--serial", "/dev/null", "--parity", "X"])
    assert result.exit_code == 2
    assert "parity 'X': use N, E or O" in result.output
    result = runner.invoke(app, ["scan"])
    assert result.exit_code == 2
    assert "give --serial PORT or --host CONVERTER" in result.output


def test_read_output_is_in_canonical_units_with_codes_and_flags() -> None:
    s4 = builtin_profile("sensecap-orch-s4")
    lines = format_values(
        s4, {"temperature": 21.5, "humidity": 55.0, "pressure": 100309.0, "light": 120.0}
    )
    assert lines[2].split() == ["pressure", "100.309", "kPa"]
    vane = builtin_profile("renke-rs-fxjt-n01")
    lines = format_values(vane, {"sector": 2.0, "direction": 400.0})
    assert lines[0].split() == ["sector", "2", "code", "(E)"]
    assert lines[1].split() == ["direction", "400", "°", "OVER", "RANGE"]


ASCII_SENSOR = re.compile(r"simulated ASCII sensor: gill-windsonic on (/dev/\S+)")


def test_read_an_ascii_sensor_on_a_serial_port() -> None:
    command = [sys.executable, "-m", "simulators", "ascii", "--model", "gill-windsonic"]
    command += ["--interval-s", "0.1"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as sensor:
        try:
            assert sensor.stdout is not None
            match = ASCII_SENSOR.fullmatch(sensor.stdout.readline().strip())
            assert match is not None
            args = ["read", "--model", "gill-windsonic", "--serial", match.group(1)]
            result = runner.invoke(app, [*args, "--timeout-s", "5"])
            assert result.exit_code == 0, result.output
            lines = {line.split()[0]: line.split()[1:] for line in result.output.splitlines()}
            assert lines["direction"][1] == "°"
            assert lines["speed"][1] == "m/s"
            assert 0 <= float(lines["speed"][0]) <= 60
        finally:
            sensor.send_signal(signal.SIGTERM)
            sensor.wait(timeout=10)


def test_scan_set_address_follows_the_library_profile() -> None:
    command = [sys.executable, "-m", "simulators", "modbus-rtu", "--update-interval-s", "60"]
    command += ["--device", "3:renke-rs-fsjt-n01@4800"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as bus:
        try:
            assert bus.stdout is not None
            line = bus.stdout.readline().strip()
            port = line.split(" on ", 1)[1]
            args = ["scan", "--serial", port, "--baud", "4800", "--timeout-s", "0.1"]
            args += ["--model", "renke-rs-fsjt-n01"]
            result = runner.invoke(app, [*args, "--slaves", "3", "--set-address", "3:21"])
            assert result.exit_code == 0, result.output
            assert "slave 3 at 4800 8N1: renke-rs-fsjt-n01" in result.output
            assert "slave 3 is now slave 21 (renke-rs-fsjt-n01)" in result.output
            result = runner.invoke(app, [*args, "--slaves", "3,21"])
            assert "slave 21 at 4800 8N1: renke-rs-fsjt-n01" in result.output
            assert "1 device(s) found" in result.output
        finally:
            bus.send_signal(signal.SIGTERM)
            bus.wait(timeout=10)
