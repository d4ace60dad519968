"""systemd's service notification protocol (``sd_notify(3)``): ready, watchdog, stopping.

Layer: I/O at the edge of the agent, standard library only (no libsystemd on the
gateway). Under ``Type=notify`` systemd sets ``NOTIFY_SOCKET`` to a Unix datagram
socket (a leading ``@`` names an abstract one); a service reports ``READY=1`` once
it works, ``WATCHDOG=1`` more often than ``WatchdogSec=`` (systemd passes it as
``WATCHDOG_USEC``, for the process ``WATCHDOG_PID`` when set), and ``STOPPING=1``
when it begins to stop. Outside systemd every call here does nothing.

Why the watchdog is worth having on a gateway: a Python agent whose event loop
hangs (a blocking call in a driver, a deadlock) still looks alive to
``Restart=always``. The pings come from a task on the agent's own loop, so they
stop when the loop stops turning, and systemd restarts the agent; the outbox on
disk loses nothing across the restart.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(environ: Mapping[str, str]) -> str | None:
    path = environ.get("NOTIFY_SOCKET", "")
    if not path:
        return None
    if path.startswith("@"):
        return "\0" + path[1:]  # Linux abstract namespace
    return path


def notify(message: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification (``"READY=1"``, ``"WATCHDOG=1"``, ...) to systemd.

    Returns whether it was sent: False outside systemd or when the socket is gone
    (never raises: supervision must not be able to stop the agent).
    """
    address = _address(os.environ if environ is None else environ)
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError as exc:
        log.debug("systemd notification %r not sent: %s", message, exc)
        return False
    return True


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """How often to ping the watchdog (half of ``WatchdogSec``), or None when it is off.

    None too when ``WATCHDOG_PID`` names another process (the watchdog is not ours).
    """
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    pid = env.get("WATCHDOG_PID", "")
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 2_000_000


async def keep_watchdog(interval_s: float, environ: Mapping[str, str] | None = None) -> None:
    """Ping the watchdog every ``interval_s`` until cancelled."""
    while True:
        notify("WATCHDOG=1", environ)
        await asyncio.sleep(interval_s)
