"""Keeping the outbox within its bounds: when full, thin the oldest readings to means.

Layer: policy over the async :class:`~edge.outbox.runner.OutboxRunner` (the
SQL is :mod:`edge.outbox.thinning`); no sending, no crypto. The publisher calls
:meth:`Capacity.keep_within_limits` after every poll cycle it stores.

Full means any of (``outbox:`` in gateway.yaml): more than ``max_readings``
waiting (sealed batches counted at their most), more than ``max_bytes`` of
outbox pages used, less than ``min_free_disk_bytes`` left on the disk. Then the
oldest half of the pending readings is thinned to one mean per series per
``thin_window_min`` minutes, the window doubling (up to a day) while that folds
nothing; the folded readings are counted, never dropped silently.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass

from edge.config import OutboxSection
from edge.outbox.runner import OutboxRunner

log = logging.getLogger(__name__)

MAX_WINDOW_MIN = 1440


@dataclass
class OutboxView:
    """What the publisher knows about the outbox, kept in memory for health reports."""

    pending_readings: int = 0
    unacked_batches: int = 0
    next_seq: int = 1
    last_sealed_seq: int | None = None
    last_acked_seq: int | None = None
    acked_batches: int = 0
    quarantined_batches: int = 0
    resent_batches: int = 0
    thinned_readings: int = 0


class Capacity:
    """Thins the outbox while it is over its limits; updates ``view`` as it goes."""

    def __init__(
        self,
        outbox: OutboxRunner,
        view: OutboxView,
        limits: OutboxSection,
        batch_readings: int,
        on_thinned: Callable[[], None],
    ) -> None:
        """``batch_readings``: what a sealed batch may hold (they count at their most)."""
        self._outbox = outbox
        self._view = view
        self._limits = limits
        self._batch_readings = batch_readings
        self._on_thinned = on_thinned
        self._full = False

    async def keep_within_limits(self) -> None:
        """Thin the oldest waiting readings while the outbox is full."""
        window_min = self._limits.thin_window_min
        while (why := await self._over_limit()) is not None:
            if not self._full:
                log.warning("outbox full (%s): thinning the oldest readings to means", why)
                self._full = True
            folded = await self._outbox.thin(0.5, window_min)
            self._view.thinned_readings += folded
            if folded:
                self._view.pending_readings = (await self._outbox.counts()).pending_readings
                self._on_thinned()
            elif window_min >= MAX_WINDOW_MIN:
                log.error("outbox full (%s) and nothing left to thin", why)
                return
            else:
                window_min = min(MAX_WINDOW_MIN, window_min * 2)
        if self._full:
            log.info("outbox has room again")
            self._full = False

    async def _over_limit(self) -> str | None:
        limits, view = self._limits, self._view
        # sealed batches count at their most: they are few (max_sealed_batches)
        waiting = view.pending_readings + view.unacked_batches * self._batch_readings
        if waiting > limits.max_readings:
            return f"{waiting} readings waiting"
        used = await self._outbox.size_bytes()
        if used > limits.max_bytes:
            return f"{used} bytes used"
        try:
            free = shutil.disk_usage(self._outbox.data_dir).free
        except OSError:
            return None
        if free < limits.min_free_disk_bytes and view.pending_readings > 1:
            return f"{free} bytes free on disk"
        return None
