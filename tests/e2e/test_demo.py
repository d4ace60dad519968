"""``shanshui demo`` as a newcomer runs it: fresh readings at the printed URL, and Ctrl-C
leaves no process behind, twice in a row on the same data directory."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

URL_LINE = re.compile(r"curl -H 'Authorization: Bearer (ssk_[A-Za-z0-9_-]+)' (http://\S+/latest)")
LOGIN_LINE = re.compile(r"(http://\S+)/login#key=(ssk_[A-Za-z0-9_-]+)")
READY_LINE = "Press Ctrl-C to stop."
CLI_LINE = re.compile(r"^ +SHANSHUI_DATA_DIR=(\S+) (\S*shanshui) cloud dead-letters$", re.MULTILINE)


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _run_demo_once(data_dir: Path) -> None:
    launched_ms = time.time() * 1000
    demo = subprocess.Popen(
        [sys.executable, "-m", "shanshui", "demo", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert demo.stdout is not None
    try:
        output: list[str] = []
        for line in demo.stdout:  # ends when the demo is ready, or at EOF if it failed
            output.append(line)
            if READY_LINE in line:
                break
        transcript = "".join(output)
        match = URL_LINE.search(transcript)
        assert match, transcript
        key, url = match.groups()
        login = LOGIN_LINE.search(transcript)
        assert login, transcript
        assert login.group(2) == key
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            body = json.load(response)
        quantities = {s["quantity"] for s in body["series"]}
        assert quantities == {"air_temperature", "relative_humidity"}
        for series in body["series"]:  # read in this run, not left over from the last one
            assert series["time_ms"] >= launched_ms, series
        assert "/?gateway=demo-gw\n" in transcript
        # the printed cloud command works on the demo's database while it runs
        cli = CLI_LINE.search(transcript)
        assert cli, transcript
        env = {**os.environ, "SHANSHUI_DATA_DIR": cli.group(1)}
        env.pop("SHANSHUI_DATABASE_URL", None)
        listed = subprocess.run(
            [cli.group(2), "cloud", "gateway", "list"],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert listed.returncode == 0, listed.stderr
        assert "demo-gw" in listed.stdout
        started = _descendants(demo.pid)
        postmaster = int((data_dir / "postgres/pgdata/postmaster.pid").read_text().split()[0])
        assert len(started) >= 4  # broker, cloud, simulator, edge agent (and their helpers)
    finally:
        demo.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        rest, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, rest
    assert "Stopped: every process the demo started has exited." in rest
    left = {pid for pid in started | {postmaster} if _alive(pid)}
    assert not left, f"left behind: {left}"
    assert not (data_dir / "postgres/pgdata/postmaster.pid").exists()


def test_demo_runs_stops_cleanly_and_runs_again(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    _run_demo_once(data_dir)
    _run_demo_once(data_dir)
