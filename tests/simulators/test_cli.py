"""``shanshui sim modbus-tcp``: announces itself, serves, and exits 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusTcpClient

LINE = re.compile(r"simulated station: jxct-th-rs485 slaves? ([\d,]+) on 127\.0\.0\.1:(\d+)")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_signalled(signum: signal.Signals) -> None:
    command = [sys.executable, "-m", "simulators", "modbus-tcp", "--port", "0"]
    command += ["--slave", "3", "--slave", "4", "--update-interval-s", "0.5"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as station:
        try:
            assert station.stdout is not None
            match = LINE.fullmatch(station.stdout.readline().strip())
            assert match is not None
            assert match.group(1) == "3,4"
            client = ModbusTcpClient("127.0.0.1", port=int(match.group(2)), timeout=2)
            try:
                assert client.connect()  # type: ignore[no-untyped-call]
                response = client.read_holding_registers(0, count=2, device_id=4)
                assert not response.isError()
                assert len(response.registers) == 2
            finally:
                client.close()  # type: ignore[no-untyped-call]
            station.send_signal(signum)
            assert station.wait(timeout=10) == 0
        finally:
            if station.poll() is None:
                station.kill()


def test_unknown_model_exits_2() -> None:
    command = [sys.executable, "-m", "simulators", "modbus-tcp", "--model", "acme-9000"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "no device profile 'acme-9000'" in result.stderr
    assert "Traceback" not in result.stderr


RTU_LINE = re.compile(r"simulated RTU bus: slaves 2,9 on (/dev/\S+) and 127\.0\.0\.1:(\d+)")


def test_rtu_bus_serves_on_a_pty_and_tcp_until_signalled() -> None:
    command = [sys.executable, "-m", "simulators", "modbus-rtu", "--tcp-port", "0"]
    command += ["--device", "2:jxct-th-rs485", "--device", "9:jxct-th-rs485@9600N"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as bus:
        try:
            assert bus.stdout is not None
            match = RTU_LINE.fullmatch(bus.stdout.readline().strip())
            assert match is not None
            port = int(match.group(2))
            client = ModbusTcpClient("127.0.0.1", port=port, framer=FramerType.RTU, timeout=2)
            try:
                assert client.connect()  # type: ignore[no-untyped-call]
                response = client.read_holding_registers(0, count=2, device_id=9)
                assert not response.isError()
                assert len(response.registers) == 2
            finally:
                client.close()  # type: ignore[no-untyped-call]
            bus.send_signal(signal.SIGTERM)
            assert bus.wait(timeout=10) == 0
        finally:
            if bus.poll() is None:
                bus.kill()


def test_rtu_device_spec_errors_exit_2() -> None:
    command = [sys.executable, "-m", "simulators", "modbus-rtu", "--device", "x:jxct-th-rs485"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "use SLAVE:MODEL[@BAUD[PARITY]]" in result.stderr
    assert "Traceback" not in result.stderr


def test_ascii_simulator_refuses_a_modbus_model() -> None:
    command = [sys.executable, "-m", "simulators", "ascii", "--model", "jxct-th-rs485"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 2
    assert "jxct-th-rs485 has no ASCII line grammar" in result.stderr
    assert "Traceback" not in result.stderr
