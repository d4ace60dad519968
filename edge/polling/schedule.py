"""When each device of a bus is due for its next poll.

Layer: pure. Time is passed in (monotonic seconds); nothing here reads a clock
or sleeps, so tests drive it with plain numbers.

Each device keeps a fixed grid ``start + k * interval_s``: a slow poll does not
make later polls drift, and after a stall (a link timeout, a suspended process)
missed slots are skipped rather than polled in a burst.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


class Schedule:
    """Due times of the devices of one bus."""

    def __init__(self, intervals_s: Mapping[str, float], start_s: float) -> None:
        """Every device is first due at ``start_s``.

        Raises:
            ValueError: an interval is not positive.
        """
        for device, interval_s in intervals_s.items():
            if not interval_s > 0:
                raise ValueError(f"device {device!r}: interval_s must be positive")
        self._intervals_s = dict(intervals_s)
        self._next_s = dict.fromkeys(intervals_s, start_s)
        self._missed = dict.fromkeys(intervals_s, 0)

    def due(self, now_s: float) -> list[str]:
        """Devices due at ``now_s``, in the order they were given."""
        return [device for device, next_s in self._next_s.items() if next_s <= now_s]

    def polled(self, device: str, now_s: float) -> float:
        """Record that ``device`` was polled at ``now_s``; return its next due time.

        The next due time is the first grid slot strictly after ``now_s``; the
        slots jumped over count as missed (see :meth:`missed`).
        """
        interval_s = self._intervals_s[device]
        next_s = self._next_s[device] + interval_s
        if next_s <= now_s:
            skipped = math.floor((now_s - next_s) / interval_s) + 1
            next_s += skipped * interval_s
            self._missed[device] += skipped
        self._next_s[device] = next_s
        return next_s

    def missed(self, device: str) -> int:
        """Slots of ``device`` skipped so far because a poll ended after the next slot."""
        return self._missed[device]

    def next_due_s(self) -> float | None:
        """The earliest due time of any device (``None`` without devices)."""
        return min(self._next_s.values(), default=None)

    def wait_s(self, now_s: float) -> float | None:
        """Seconds from ``now_s`` until the next device is due (0 if one is due now).

        ``None`` without devices: nothing will ever be due.
        """
        next_s = self.next_due_s()
        return None if next_s is None else max(0.0, next_s - now_s)


def backoff_s(failures: int, interval_s: float, max_s: float) -> float:
    """How long a device that failed ``failures`` times in a row waits before its next try.

    The first failure costs nothing extra (the next slot is the retry); then the
    wait doubles from one interval, and never exceeds ``max(max_s, interval_s)``.
    """
    if failures <= 1:
        return 0.0
    ceiling_s = max(max_s, interval_s)
    exponent = min(failures - 2, 32)  # 2**32 intervals is past any ceiling
    return min(ceiling_s, interval_s * 2.0**exponent)
