"""A token bucket that caps the bytes an uplink sends per second (metered cellular links).

Layer: pure bookkeeping over ``time.monotonic``; no I/O. The publisher asks
:meth:`Bandwidth.left` before handing a batch over and charges what was sent.
"""

from __future__ import annotations

import time


class Bandwidth:
    """``cap_bytes_per_s`` on average, bursts up to ``max(cap, burst_bytes)``; no cap for None."""

    def __init__(self, cap_bytes_per_s: int | None, burst_bytes: int) -> None:
        """Start with a full bucket."""
        self._cap = cap_bytes_per_s
        self._burst = float(max(cap_bytes_per_s or 0, burst_bytes))
        self._tokens = self._burst
        self._at = time.monotonic()

    def left(self) -> bool:
        """Whether a batch may go now (the bucket is not in debt)."""
        if self._cap is None:
            return True
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._cap)
        self._at = now
        return self._tokens > 0

    def charge(self, sent_bytes: int) -> None:
        """``sent_bytes`` went out."""
        self._tokens -= sent_bytes

    def wait_s(self) -> float | None:
        """How long until the bucket is out of debt; None when it is not in debt."""
        if self._cap is None or self._tokens > 0:
            return None
        return -self._tokens / self._cap + 0.01
