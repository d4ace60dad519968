"""Child processes that die with their parent and stop in order.

Layer: process management for ``shanshui demo``. Each child runs in its own
session, so a Ctrl-C in the terminal reaches only the demo, which then stops
the children in the reverse order of their start (edge agent first, so it can
flush to a broker that is still up). On Linux each child also asks the kernel
for SIGTERM when the demo dies, so even ``kill -9`` of the demo leaves nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_STOP_TIMEOUT_S = 15.0


def die_with_parent() -> None:
    """Ask the kernel to SIGTERM this process when its parent dies (Linux; no-op elsewhere).

    Meant as a ``preexec_fn``: it runs in the child between fork and exec.
    """
    libc_name = ctypes.util.find_library("c")
    if libc_name and sys.platform.startswith("linux"):
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Children:
    """The demo's child processes, started with :meth:`spawn`, stopped with :meth:`stop_all`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def spawn(
        self, name: str, args: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        """Start ``python -m shanshui <args>``; its output goes to ``<log_dir>/<name>.log``."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "shanshui", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                start_new_session=True,
                preexec_fn=die_with_parent,  # noqa: PLW1509 - no threads hold locks here yet
            )
        self._procs.append((name, proc))
        log.info("started %s (pid %d)", name, proc.pid)
        return proc

    def exited(self) -> list[tuple[str, int]]:
        """Children that have exited, with their exit codes."""
        return [(name, code) for name, proc in self._procs if (code := proc.poll()) is not None]

    def stop_all(self) -> None:
        """SIGTERM each child, newest first, waiting for each; SIGKILL any that hang."""
        while self._procs:
            name, proc = self._procs.pop()
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop within %.0f s; killing it", name, _STOP_TIMEOUT_S)
                    proc.kill()
                    proc.wait()
            log.info("stopped %s (exit %s)", name, proc.returncode)
