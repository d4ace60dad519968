"""A series' poll interval as observed from its readings' times.

Layer: pure function; no I/O. Absence rules open an alarm after a multiple of a
series' own interval, so the interval must follow the gateway's polling, not its
accidents:

* clock jitter (60.012 s, 59.991 s) changes nothing: gaps within
  :data:`TOLERANCE` of the interval are the interval;
* a shorter gap lowers it at once (the series is polled faster than thought);
* one longer gap (a missed poll, an outage) does not raise it: the silence limit
  would stretch just when silence is likeliest. Two longer gaps in a row that agree
  with each other do (the poll interval was changed).
"""

from __future__ import annotations

from typing import NamedTuple

# gaps within this share of the interval are the same interval
TOLERANCE = 0.1


class Interval(NamedTuple):
    """The interval learnt (None: not yet), and a longer gap seen once, waiting for a second."""

    seconds: float | None = None
    longer: float | None = None


NOT_YET = Interval()


def learn(interval: Interval, gap_s: float) -> Interval:
    """The interval after a gap of ``gap_s`` (> 0) between consecutive readings."""
    current, longer = interval
    if current is None or gap_s < current * (1 - TOLERANCE):
        return Interval(gap_s)
    if gap_s <= current * (1 + TOLERANCE):
        return Interval(current)  # the same, give or take jitter
    if longer is not None and abs(gap_s - longer) <= TOLERANCE * longer:
        return Interval(gap_s)  # twice in a row: the polling changed
    return Interval(current, gap_s)
