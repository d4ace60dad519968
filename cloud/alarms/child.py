"""The alarm evaluator as a child process of ``shanshui cloud serve`` and ``ingest``.

Layer: process orchestration for the command line. Starts ``python -m shanshui
cloud alarms run --exit-with-parent`` on the database the parent uses (its output
goes where the parent's goes), starts it again with back-off if it exits, and stops
it (SIGTERM, then SIGKILL) when the parent's command ends. The child also exits by
itself when its parent dies, so even ``kill -9`` of the parent leaves nothing.
Several parents start several children: one evaluates, the others stand by.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from types import TracebackType
from typing import Self

log = logging.getLogger(__name__)

_RESTART_FIRST_S = 1.0
_RESTART_MAX_S = 60.0
_STOP_TIMEOUT_S = 10.0


class EvaluatorChild:
    """``with EvaluatorChild(conninfo):`` runs the evaluator beside the block.

    Args:
        conninfo: the database (passed as ``SHANSHUI_DATABASE_URL``, not on the
            command line, where other users could read it).
    """

    def __init__(self, conninfo: str) -> None:
        self._env = {**os.environ, "SHANSHUI_DATABASE_URL": conninfo}
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no start after stop has begun
        self._thread = threading.Thread(target=self._keep, name="shanshui-alarms", daemon=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def start(self) -> None:
        """Start the child, and keep it running until :meth:`stop`."""
        self._start()
        self._thread.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        """The running child's pid."""
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop(self) -> None:
        """SIGTERM the child and wait for it; SIGKILL it if it hangs. Safe to call twice."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("the alarm evaluator did not stop within %.0f s; killing it",
                            _STOP_TIMEOUT_S)  # fmt: skip
                proc.kill()
                proc.wait()
        if self._thread.is_alive():
            self._thread.join()

    def _start(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._spawn()

    def _spawn(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "shanshui", "cloud", "alarms", "run", "--exit-with-parent"],
            env=self._env,
            stdin=subprocess.DEVNULL,
        )
        log.info("started the alarm evaluator (pid %d)", self._proc.pid)

    def _keep(self) -> None:
        delay_s = _RESTART_FIRST_S
        while not self._stopping.is_set():
            proc = self._proc
            if proc is None:
                return
            code = proc.wait()
            if self._stopping.is_set():
                return
            log.warning("the alarm evaluator exited with code %s; starting it again in %.0f s",
                        code, delay_s)  # fmt: skip
            if self._stopping.wait(delay_s):
                return
            delay_s = min(delay_s * 2, _RESTART_MAX_S)
            self._start()
