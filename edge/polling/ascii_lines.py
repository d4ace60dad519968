"""Lines from a serial ASCII sensor: ask (if it must be asked), then take the newest line.

Layer: asyncio over a byte :class:`~edge.polling.transports.base.Link`;
framing is ``device_profiles.ascii.decode_frame`` (sans-IO). Used by the ASCII
poller and by ``shanshui edge read``.
"""

from __future__ import annotations

import time

from device_profiles import AsciiSpec
from device_profiles.ascii import ENCODING, AsciiError, decode_frame
from edge.polling.transports.base import Link


class NoLineError(Exception):
    """No complete line within the timeout."""


class LineReader:
    """The newest complete line of a sensor, streamed or requested."""

    def __init__(self, link: Link, spec: AsciiSpec) -> None:
        """Read ``spec``'s lines from ``link`` (opened by the caller)."""
        self.link = link
        self.spec = spec
        self._buffer = b""

    async def next_line(self, timeout_s: float) -> str:
        """Ask for a line if the sensor must be asked; return the newest complete one.

        Lines streamed since the last call are dropped but the newest.

        Raises:
            NoLineError: no complete line within ``timeout_s``.
            AsciiError: bytes without a line end for longer than a line can be.
            LinkError: the port failed.
        """
        if self.spec.request is not None:
            self.link.take_pending()  # an answer to nobody
            self._buffer = b""
            self.link.write(self.spec.request.encode(ENCODING))
        deadline_s = time.monotonic() + timeout_s
        self._buffer += self.link.take_pending()
        newest = self._cut_lines()
        while newest is None:
            left_s = deadline_s - time.monotonic()
            chunk = await self.link.read(left_s) if left_s > 0 else b""
            if not chunk:
                raise NoLineError(f"no line within {timeout_s:g} s")
            self._buffer += chunk
            newest = self._cut_lines()
        return newest

    def reset(self) -> None:
        """Forget buffered bytes (the port was closed)."""
        self._buffer = b""

    def _cut_lines(self) -> str | None:
        newest: str | None = None
        while True:
            try:
                used, line = decode_frame(self.spec, self._buffer)
            except AsciiError:
                self._buffer = b""  # a line too long to be one: resynchronise
                raise
            if line is None:
                return newest
            self._buffer = self._buffer[used:]
            if line.strip():
                newest = line
