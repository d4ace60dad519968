"""``QnAllocator``: a QN (request number) per HJ 212 packet, unique, and the same on resend.

Layer: pure logic (no I/O). QN is a timestamp to the millisecond; the gateway
takes the instant of the readings a packet carries, so a platform sees when the
data is from and a resend keeps its QN. Two packets of the same instant (two
batches with readings taken at one time) would share it and the platform would
take the second for a resend of the first: the second gets the next free
millisecond instead (bumped while taken). A packet keeps the QN it was given
until its batch is delivered (:meth:`QnAllocator.delivered`), however often it
is resent. Remembered QNs are bounded (the oldest forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict

REMEMBERED = 100_000


class QnAllocator:
    """Hands out QN instants (epoch ms); see the module docstring."""

    def __init__(self, remembered: int = REMEMBERED) -> None:
        self._taken: OrderedDict[int, None] = OrderedDict()
        self._given: dict[tuple[int, int], int] = {}
        self._remembered = remembered

    def qn_ms(self, seq: int, time_ms: int) -> int:
        """The QN instant of batch ``seq``'s packet of the readings at ``time_ms``."""
        key = (seq, time_ms)
        given = self._given.get(key)
        if given is not None:
            return given
        qn = time_ms
        while qn in self._taken:
            qn += 1
        self._taken[qn] = None
        if len(self._taken) > self._remembered:
            self._taken.popitem(last=False)
        self._given[key] = qn
        return qn

    def delivered(self, seq: int) -> None:
        """Batch ``seq`` is settled: its packets will not be resent (their QNs stay taken)."""
        for key in [k for k in self._given if k[0] == seq]:
            del self._given[key]
