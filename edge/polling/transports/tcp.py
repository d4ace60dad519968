"""A TCP connection to a Modbus TCP device or an RS-485-to-Ethernet converter.

Layer: asyncio ``Protocol`` feeding an :class:`Inbox`; no Modbus here. The same
link carries MBAP frames (Modbus TCP) or raw RTU frames (a converter in
transparent mode): the framing is chosen by the bus master, not here.
"""

from __future__ import annotations

import asyncio

from edge.errors import LinkError
from edge.polling.transports.base import Inbox


class _Receiver(asyncio.Protocol):
    def __init__(self, inbox: Inbox) -> None:
        self._inbox = inbox

    def data_received(self, data: bytes) -> None:
        self._inbox.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inbox.fail("connection closed" if exc is None else f"connection lost: {exc}")


class TcpLink:
    """One TCP connection, reopened by :meth:`open` after it broke."""

    def __init__(self, host: str, port: int, connect_timeout_s: float) -> None:
        """Remember the endpoint; nothing connects until :meth:`open`."""
        self.host, self.port = host, port
        self.description = f"{host}:{port}"
        self._connect_timeout_s = connect_timeout_s
        self._transport: asyncio.Transport | None = None
        self._inbox = Inbox()

    @property
    def is_open(self) -> bool:
        """True while connected."""
        return (
            self._transport is not None
            and not self._transport.is_closing()
            and self._inbox.broken is None
        )

    async def open(self) -> None:
        """Connect, unless connected.

        Raises:
            LinkError: refused, unreachable, or not within the connect timeout.
        """
        if self.is_open:
            return
        self.close()
        inbox = Inbox()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                transport, _ = await loop.create_connection(
                    lambda: _Receiver(inbox), self.host, self.port
                )
        except (OSError, TimeoutError) as exc:
            raise LinkError(f"cannot connect to {self.description}") from exc
        self._transport = transport
        self._inbox = inbox

    def write(self, data: bytes) -> None:
        """Send ``data``.

        Raises:
            LinkError: not connected.
        """
        if not self.is_open or self._transport is None:
            raise LinkError(f"not connected to {self.description}")
        self._transport.write(data)

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
        """Close the connection (if any)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
