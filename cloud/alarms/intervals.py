"""A series' poll interval as observed from its readings' times.

Layer: pure function; no I/O. Absence rules open an alarm after a multiple of a
series' own interval, so the interval must follow the gateway's polling, not its
accidents:

* clock jitter (60.012 s, 59.991 s) changes nothing: gaps within
  :data:`TOLERANCE` of the interval are the interval;
* one longer gap (a missed poll, an outage) does not raise it: the silence limit
  would stretch just when silence is likeliest;
* one shorter gap (a gateway restarted polls at once, seconds after its last poll)
  does not lower it either: the silence limit would shrink to a few seconds and call
  the series silent before its next regular poll;
* two different gaps in a row that agree with each other change it (the poll
  interval was changed).
"""

from __future__ import annotations

from typing import NamedTuple

# gaps within this share of the interval are the same interval
TOLERANCE = 0.1


class Interval(NamedTuple):
    """The interval learnt (None: not yet), and another gap seen once, waiting for a second."""

    seconds: float | None = None
    other: float | None = None


NOT_YET = Interval()


def learn(interval: Interval, gap_s: float) -> Interval:
    """The interval after a gap of ``gap_s`` (> 0) between consecutive readings."""
    current, other = interval
    if current is None:
        return Interval(gap_s)
    if abs(gap_s - current) <= TOLERANCE * current:
        # the same, give or take jitter: the usual case, for every reading, allocates nothing
        return interval if other is None else Interval(current)
    if other is not None and abs(gap_s - other) <= TOLERANCE * other:
        return Interval(gap_s)  # twice in a row: the polling changed
    return Interval(current, gap_s)
