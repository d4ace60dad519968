"""When the pending readings arrived, for the seal deadline: bookkeeping, not storage.

Layer: pure in-memory bookkeeping over ``time.monotonic``; no I/O. The
publisher seals a batch once the oldest pending reading has waited
``max_delay_s``; this keeps one entry per poll cycle (not per reading), and
:meth:`Arrivals.consume` drops readings oldest first as batches take them.
"""

from __future__ import annotations

import time
from collections import deque


class Arrivals:
    """Poll cycles still (partly) pending: [when they arrived, readings left]."""

    def __init__(self) -> None:
        """Nothing pending."""
        self._cycles: deque[list[float | int]] = deque()

    def add(self, readings: int) -> None:
        """``readings`` arrived now."""
        self._cycles.append([time.monotonic(), readings])

    def reset(self, readings: int = 0) -> None:
        """Forget everything; ``readings`` (if any) count as arrived now."""
        self._cycles.clear()
        if readings:
            self.add(readings)

    def consume(self, readings: int) -> None:
        """A batch took the ``readings`` oldest pending readings."""
        while readings > 0 and self._cycles:
            head = self._cycles[0]
            taken = min(readings, int(head[1]))
            head[1] = int(head[1]) - taken
            readings -= taken
            if head[1] == 0:
                self._cycles.popleft()

    def oldest_wait_s(self) -> float:
        """How long the oldest pending reading has waited (0 when none)."""
        return time.monotonic() - float(self._cycles[0][0]) if self._cycles else 0.0
