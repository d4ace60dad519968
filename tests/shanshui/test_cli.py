"""The ``shanshui`` command, including on a gateway where only the core is installed."""

from __future__ import annotations

import subprocess
import sys

# Pretend the cloud extra is absent, as on `pip install shanshui` on a Raspberry Pi.
WITHOUT_CLOUD = "import sys; sys.modules['psycopg'] = None; from shanshui.cli import app; app()"


def _shanshui(*args: str, prelude: str | None = None) -> subprocess.CompletedProcess[str]:
    code = prelude or "from shanshui.cli import app; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def test_help_lists_every_part() -> None:
    result = _shanshui("--help")
    assert result.returncode == 0, result.stderr
    for command in ("edge", "cloud", "sim", "demo"):
        assert command in result.stdout


def test_a_gateway_install_explains_the_missing_cloud_extra() -> None:
    for args in (("cloud", "migrate"), ("cloud",), ("demo",)):
        result = _shanshui(*args, prelude=WITHOUT_CLOUD)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "pip install 'shanshui[cloud]'" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_gateway_install_still_runs_the_edge_commands() -> None:
    result = _shanshui("edge", "check-config", "--help", prelude=WITHOUT_CLOUD)
    assert result.returncode == 0, result.stderr
    assert "gateway.yaml" in result.stdout or "CONFIG" in result.stdout.upper()
