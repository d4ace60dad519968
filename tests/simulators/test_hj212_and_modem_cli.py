"""`shanshui sim hj212-logger` against the cloud's HJ 212 server; `shanshui sim modem` on a pty."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import serial

from cloud.ingest.hj212_readings import Station
from cloud.ingest.hj212_server import Hj212Server
from cloud.ingest.pipeline import IngestPipeline
from cloud.storage import Storage
from tests.cloud.helpers import all_readings

pytestmark = pytest.mark.anyio
MN = "AQ0001EXAMPLE00000000001"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def server(migrated_database_url: str) -> AsyncIterator[tuple[Hj212Server, Storage]]:
    async with Storage(migrated_database_url, max_size=2) as storage:
        await storage.register_gateway("station-1")
        running = Hj212Server(IngestPipeline(storage), {MN: Station(MN, "p4ss", "station-1")})
        await running.start()
        yield running, storage
        await running.stop()


async def test_logger_command_uploads_until_count(server: tuple[Hj212Server, Storage]) -> None:
    running, storage = server
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shanshui", "sim", "hj212-logger",
        "--port", str(running.port), "--mn", MN, "--count", "2", "--interval-s", "0.1",
        env={**os.environ, "SHANSHUI_HJ212_PASSWORD": "p4ss"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, stderr
    assert stdout.decode().count("answered CN=9014") == 2
    series = await all_readings(storage, "station-1", MN, "pm2_5")
    assert len(series.readings) >= 1  # two uploads, possibly within the same second


async def test_the_logger_answers_commands_between_uploads_and_takes_a_new_interval(
    server: tuple[Hj212Server, Storage],
) -> None:
    running, _ = server
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shanshui", "sim", "hj212-logger",
        "--port", str(running.port), "--mn", MN, "--count", "2", "--interval-s", "600",
        env={**os.environ, "SHANSHUI_HJ212_PASSWORD": "p4ss", "PYTHONUNBUFFERED": "1"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        first = await asyncio.wait_for(process.stdout.readline(), 60)
        assert b"answered CN=9014" in first
        interval = await running.command(MN, "1061", timeout_s=30)
        assert interval.values == {"RtdInterval": "600"}
        shorter = await running.command(MN, "1062", "1", timeout_s=30)
        assert shorter.succeeded
        # the second upload comes after 1 s, not the 600 s it was started with
        rest, _ = await asyncio.wait_for(process.communicate(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0
    assert rest.decode().count("answered CN=9014") == 1


def test_logger_command_needs_a_password() -> None:
    env = {k: v for k, v in os.environ.items() if k != "SHANSHUI_HJ212_PASSWORD"}
    result = subprocess.run(
        [sys.executable, "-m", "shanshui", "sim", "hj212-logger", "--port", "1", "--mn", MN],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "SHANSHUI_HJ212_PASSWORD" in result.stderr


def test_modem_command_serves_at_on_a_pty() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "shanshui", "sim", "modem", "--registration-delay-s", "0"],
        stdout=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            port = line.split(" on ")[1].split(" ")[0]
            with serial.Serial(port, 9600, timeout=5) as tty:
                tty.write(b"ATE0\r")
                assert b"OK" in tty.read_until(b"OK\r\n")
                tty.write(b"AT+CGSN=1\r")
                assert b"+CGSN:" in tty.read_until(b"OK\r\n")
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
    assert process.returncode == 0
