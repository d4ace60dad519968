"""The pseudo-terminal a serial simulator serves: a client opens ``port`` as its serial line.

Layer: OS plumbing only (``os.openpty``, raw mode); the simulators read and write
:attr:`PtyPair.master_fd` from their event loop. Shared by the RTU bus and the
ASCII sensors.
"""

from __future__ import annotations

import asyncio
import os
import tty
from contextlib import suppress


class PtyPair:
    """A raw pty pair: the simulator keeps the master end, a client opens :attr:`port`."""

    def __init__(self) -> None:
        """Open the pair; raw from the start (no echo, no CR/LF translation) before any client."""
        self.master_fd, self.slave_fd = os.openpty()
        tty.setraw(self.slave_fd)
        os.set_blocking(self.master_fd, False)
        self.port = os.ttyname(self.slave_fd)

    def close(self) -> None:
        """Stop watching the master end (if the running loop was) and close both ends."""
        with suppress(RuntimeError, ValueError):
            asyncio.get_running_loop().remove_reader(self.master_fd)
        for fd in (self.master_fd, self.slave_fd):
            with suppress(OSError):
                os.close(fd)
