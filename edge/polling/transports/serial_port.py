"""A serial port (RS-485 adapter, UART, or a pseudo-terminal in tests) via pyserial.

Layer: asyncio around pyserial; no Modbus. pyserial opens the port and sets
baud rate, parity, stop bits and byte size (termios on Linux); the event loop
watches its file descriptor and feeds an :class:`Inbox`, as pyserial-asyncio
does, so no thread is needed.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import suppress

import serial

from edge.errors import LinkError
from edge.polling.transports.base import Inbox

_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}
_READ_CHUNK = 4096


class SerialLink:
    """One serial port with fixed line settings."""

    def __init__(
        self,
        port: str,
        baudrate: int,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
    ) -> None:
        """Remember the settings; nothing opens until :meth:`open`."""
        self.port = port
        self.baudrate, self.parity, self.stopbits, self.bytesize = (
            baudrate,
            parity,
            stopbits,
            bytesize,
        )
        self.description = f"{port} {baudrate} {bytesize}{parity}{stopbits}"
        self._serial: serial.Serial | None = None
        self._inbox = Inbox()

    @property
    def is_open(self) -> bool:
        """True while the port is open and has not failed."""
        return self._serial is not None and self._inbox.broken is None

    async def open(self) -> None:
        """Open the port, unless open.

        Raises:
            LinkError: no such port, no permission, or settings the port refuses.
        """
        if self.is_open:
            return
        self.close()
        try:
            port = serial.Serial(
                self.port,
                baudrate=self.baudrate,
                parity=_PARITY[self.parity],
                stopbits=self.stopbits,
                bytesize=self.bytesize,
                timeout=0,
                write_timeout=1.0,
            )
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(f"cannot open {self.description}: {exc}") from exc
        self._serial = port
        self._inbox = Inbox()
        asyncio.get_running_loop().add_reader(port.fileno(), self._readable)

    def write(self, data: bytes) -> None:
        """Send ``data`` (a frame is far smaller than the kernel's buffer).

        Raises:
            LinkError: the port is closed or failed.
        """
        if self._serial is None or not self.is_open:
            raise LinkError(f"{self.description} is not open")
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            self._inbox.fail(f"{self.description}: write failed: {exc}")
            raise LinkError(f"{self.description}: write failed: {exc}") from exc

    async def read(self, timeout_s: float) -> bytes:
        """What arrived within ``timeout_s`` (``b""`` if nothing)."""
        return await self._inbox.read(timeout_s)

    def take_pending(self) -> bytes:
        """What arrived and was not read yet."""
        return self._inbox.take()

    @property
    def last_arrival_s(self) -> float:
        """Monotonic time the latest bytes arrived (0 before any)."""
        return self._inbox.last_arrival_s

    def close(self) -> None:
        """Close the port (if open)."""
        if self._serial is None:
            return
        with suppress(RuntimeError):  # no running loop: nothing is watching the descriptor
            asyncio.get_running_loop().remove_reader(self._serial.fileno())
        self._serial.close()
        self._serial = None

    def _readable(self) -> None:
        if self._serial is None:
            return
        try:
            data = os.read(self._serial.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:  # EIO: the adapter was unplugged (or the pty closed)
            data = b""
            reason = f"{self.description}: {exc}"
        else:
            reason = f"{self.description}: port closed"
        if data:
            self._inbox.feed(data)
            return
        asyncio.get_running_loop().remove_reader(self._serial.fileno())
        self._inbox.fail(reason)
