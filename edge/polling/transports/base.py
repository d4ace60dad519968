"""The byte-link interface shared by serial ports and TCP connections.

Layer: asyncio, no Modbus. :class:`Link` is what the bus master needs;
:class:`Inbox` is the receive buffer both links fill from their callbacks, so
a reader waits on an event (with a timeout) instead of polling.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from edge.errors import LinkError


class Link(Protocol):
    """A byte pipe to a bus."""

    description: str

    @property
    def is_open(self) -> bool:
        """True while the link can carry bytes."""

    async def open(self) -> None:
        """Open the link (no-op if open). Raises LinkError."""

    def write(self, data: bytes) -> None:
        """Queue ``data`` for sending. Raises LinkError."""

    async def read(self, timeout_s: float) -> bytes:
        """Bytes that arrived, waiting up to ``timeout_s``; ``b""`` on timeout. Raises LinkError."""

    def take_pending(self) -> bytes:
        """Everything received and not yet read, without waiting."""

    @property
    def last_arrival_s(self) -> float:
        """Monotonic time the latest bytes arrived (0 before any)."""

    def close(self) -> None:
        """Close the link; a later :meth:`open` reopens it."""


class Inbox:
    """Received bytes, and an event set when more arrive or the link breaks."""

    def __init__(self) -> None:
        """An empty, healthy inbox."""
        self._data = bytearray()
        self._arrived = asyncio.Event()
        self.broken: str | None = None
        # when the bytes came, not when a reader woke up to them: the line's
        # silence is measured from the last byte, so a late wake-up costs nothing
        self.last_arrival_s = 0.0

    def feed(self, data: bytes) -> None:
        """Append bytes that arrived (called from a transport callback)."""
        self.last_arrival_s = time.monotonic()
        self._data += data
        self._arrived.set()

    def fail(self, reason: str) -> None:
        """The link broke: wake a waiting reader, which raises LinkError."""
        self.broken = reason
        self._arrived.set()

    def take(self) -> bytes:
        """Everything buffered, without waiting."""
        data = bytes(self._data)
        self._data.clear()
        self._arrived.clear()
        return data

    async def read(self, timeout_s: float) -> bytes:
        """What arrived, waiting up to ``timeout_s`` for the first byte."""
        if not self._data and self.broken is None and timeout_s > 0:
            self._arrived.clear()
            try:
                async with asyncio.timeout(timeout_s):
                    await self._arrived.wait()
            except TimeoutError:
                return b""
        if not self._data and self.broken is not None:
            raise LinkError(self.broken)
        return self.take()
