"""``AlarmWorker``: the alarm evaluator as a service of its own, following what ingest committed.

Layer: asyncio service (I/O glue) over :class:`cloud.alarms.stepping.Stepper`,
:class:`cloud.storage.alarm_feed.FeedListener` and a notifier. Ingest does nothing
for it but commit: every ingest path (MQTT, HTTP, HJ 212, NB-IoT) writes the batch
log, so every committed batch is evaluated, and no ingest worker waits for it.

* Leadership: one evaluator is active, the one holding a session advisory lock;
  others stand by and try again every ``standby_s``. PostgreSQL frees the lock when
  the active one's connection ends, and a standby takes over from the stored
  position. The generation check of each step is the second guard: two evaluators
  never record the same transition twice (and the unique index on unresolved
  alarms the third).
* Waking: ``LISTEN`` (a trigger notifies at every commit to the feed), with a poll
  every ``poll_s`` in case a notification is lost; after a notification it waits
  ``gather_s`` (20 ms; 100 ms while a burst goes on) for the rest of a burst; a step
  takes whole transactions, up to a limit, and steps follow each other until nothing
  is left.
* After each step is committed, its events are handed to the notifier, except late
  ones (but the late end of an alarm whose opening was notified: whoever was paged
  hears that it is over). When it becomes active, an evaluator first hands over the
  events recorded in the last ``late_after_s`` that no delivery was claimed for (a
  crash after the commit, before notifying); a delivery is claimed once per contact
  and event, so nothing is sent twice.
* Rules: a step reads them again when their version (counted by a trigger in the
  transaction that changes them) moved, read in the snapshot in which it chooses
  its batches: a batch committed after a rule change is evaluated with it.
* Every ``tick_s``: stations' metadata read again (the series of a station whose
  metadata changed are rebuilt), silence checked, escalations, pruning,
  and a checkpoint of the states that changed only their windows (see
  :mod:`cloud.alarms.stepping`); another at :meth:`AlarmWorker.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from typing import Protocol

from cloud.alarms.evaluator import DEFAULT_LATE_AFTER_S
from cloud.alarms.stepping import Stepper
from cloud.errors import StorageError
from cloud.storage import Storage
from cloud.storage.alarm_eval import Notice, notified_openings, unnotified_events
from cloud.storage.alarm_feed import FeedListener, prune_presence_log

log = logging.getLogger(__name__)

_RETRY_FIRST_S = 0.2
_RETRY_MAX_S = 10.0
_PRUNE_EVERY_S = 3600.0
# a step that took this many transactions is in a burst: the next gathers 5 times longer
# (100 ms), so a burst costs fewer steps (each one's statements and commit)
_BUSY_TRANSACTIONS = 5
_BUSY_GATHER_FACTOR = 5
PRESENCE_LOG_DAYS = 30


class AlarmSink(Protocol):
    """What hears of recorded alarm events (the notifier)."""

    async def notify(self, notices: Sequence[Notice]) -> None:
        """Events recorded, not late; must not wait for slow receivers."""

    async def tick(self) -> None:
        """Called with every tick of the worker (escalations)."""


class AlarmWorker:
    """Follow the feed and evaluate it; see the module docstring.

    Args:
        storage: an open :class:`Storage` (a pool of its own: a few connections).
        notify: told of the events recorded (not late) after each step, and ticked.
        late_after_s: readings evaluated more than this after they were measured raise
            late alarms (recorded, not notified).
        tick_s: how often silence is checked and stations' metadata read again.
        poll_s: the longest wait for a notification before looking anyway.
        standby_s: how often a standby evaluator tries to become the active one.
        step_limit: rows of each log read per step, at most.
        gather_s: after a notification, wait this long for more commits to step over at once.
        clock: seconds since the epoch (tests may pass their own).
        name: recorded with each step; default ``host:pid``.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        notify: AlarmSink | None = None,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
        tick_s: float = 30.0,
        poll_s: float = 1.0,
        standby_s: float = 5.0,
        step_limit: int = 2000,
        gather_s: float = 0.02,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        self._storage = storage
        self._notify = notify
        self._late_after_s = late_after_s
        self._tick_s = tick_s
        self._poll_s = poll_s
        self._standby_s = standby_s
        self._gather_s = gather_s
        self._clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stepper = Stepper(
            storage, name=self.name, late_after_s=late_after_s, step_limit=step_limit
        )
        self._lock = asyncio.Lock()  # one step at a time (the loop, idle(), tick())
        self._active = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.recorded: list[Notice] = []  # every event this worker recorded (tests, bench)
        self._recorded_more = asyncio.Condition()
        self.steps = 0  # steps committed that read something
        self._last_taken = 0  # transactions the last step took

    @property
    def active(self) -> bool:
        """True while this evaluator holds the lead."""
        return self._active.is_set()

    async def wait_active(self, timeout_s: float = 10.0) -> None:
        """Wait until this evaluator holds the lead.

        Raises:
            TimeoutError: not within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s):
            await self._active.wait()

    async def start(self) -> None:
        """Run :meth:`run` in a task of its own."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="shanshui-alarms")

    async def stop(self, *, checkpoint: bool = True) -> None:
        """Stop; a step in progress is rolled back (the next active evaluator redoes it).

        Args:
            checkpoint: save the states waiting for a checkpoint (windows, newest times)
                first, if this evaluator is the active one; False stops as a crash would.
        """
        task, self._task = self._task, None
        if task is None:
            return
        async with self._lock:  # no step meanwhile: the checkpoint is the last word
            if checkpoint and self._active.is_set():
                try:
                    await self._stepper.checkpoint()
                except StorageError as exc:
                    log.warning("alarm evaluation: no checkpoint at stop: %s", exc)
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Stand by, lead, evaluate; until cancelled. A lost database is waited for."""
        delay_s = _RETRY_FIRST_S
        while True:
            listener = FeedListener(self._storage)
            try:
                await listener.open()
                delay_s = _RETRY_FIRST_S
                await self._stand_by(listener)
                await self._lead(listener)
            except StorageError as exc:
                log.warning("alarm evaluation: database unavailable, retrying: %s", exc)
            finally:
                if self._active.is_set():
                    log.info("alarm evaluator %s is no longer the active one", self.name)
                self._active.clear()
                self._stepper.forget()
                await listener.close()
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, _RETRY_MAX_S)

    async def idle(self) -> None:
        """Evaluate everything committed so far, once this evaluator is the active one."""
        await self.wait_active()
        while (await self._step()) is True:
            pass

    async def tick(self) -> None:
        """Check silence now (the worker does this every ``tick_s``)."""
        async with self._lock:
            notices = await self._stepper.tick(int(self._clock() * 1000))
        await self._hand_over(notices)

    async def reload_rules(self) -> None:
        """Read the rules again at the next step (steps also follow the rules' version)."""
        async with self._lock:
            self._stepper.reload_rules()

    async def _stand_by(self, listener: FeedListener) -> None:
        said = False
        while not await listener.try_lead():
            if not said:
                log.info("another alarm evaluator is active; %s stands by", self.name)
                said = True
            await asyncio.sleep(self._standby_s)
        log.info("alarm evaluator %s is the active one", self.name)

    async def _lead(self, listener: FeedListener) -> None:
        self._stepper.forget()
        await self.reload_rules()
        self._active.set()
        await self._recover_notifications()
        next_tick = next_prune = time.monotonic()
        wake = {"feed"}
        while True:
            if "rules" in wake:
                await self.reload_rules()
            await self.idle()
            now = time.monotonic()
            if now >= next_tick:
                await self._tick_all(prune=now >= next_prune)
                next_tick = now + self._tick_s
                next_prune = now + _PRUNE_EVERY_S if now >= next_prune else next_prune
            if not listener.alive:
                raise StorageError("the listening connection was lost")
            wake = await listener.wait(min(self._poll_s, max(next_tick - now, 0.0)))
            if wake:
                # let the commits of a burst gather: one step for them, not one each; while
                # commits keep coming (the last step took several), gather longer
                busy = self._last_taken >= _BUSY_TRANSACTIONS
                await asyncio.sleep(self._gather_s * (_BUSY_GATHER_FACTOR if busy else 1))

    async def refresh_stations(self) -> None:
        """Read the stations' metadata (targets, zones, regions) again now (the worker does
        so every ``tick_s``); a change applies from the next reading of each series."""
        async with self._lock:
            await self._stepper.refresh_stations()

    async def _tick_all(self, *, prune: bool) -> None:
        # rules need no reloading here: every step and tick follows their version
        await self.refresh_stations()  # a station's metadata may have changed
        await self.tick()
        if self._notify is not None:
            await self._notify.tick()
        if prune:
            pruned = await prune_presence_log(self._storage, PRESENCE_LOG_DAYS)
            if pruned:
                log.info("pruned %d presence changes", pruned)

    async def _step(self) -> bool:
        """One step; True if more may be waiting."""
        async with self._lock:
            feed, notices = await self._stepper.step(int(self._clock() * 1000))
        self._last_taken = feed.transactions
        if feed.transactions:
            self.steps += 1
        await self._hand_over(notices)
        return feed.more

    async def wait_recorded(self, count: int, timeout_s: float = 10.0) -> list[Notice]:
        """Wait until this worker has recorded ``count`` events in all; them.

        Raises:
            TimeoutError: not within ``timeout_s``.
        """
        async with asyncio.timeout(timeout_s), self._recorded_more:
            await self._recorded_more.wait_for(lambda: len(self.recorded) >= count)
            return list(self.recorded)

    async def _hand_over(self, notices: list[Notice]) -> None:
        if notices:
            async with self._recorded_more:
                self.recorded.extend(notices)
                self._recorded_more.notify_all()
        live = [n for n in notices if not n.late]
        late_ends = [n for n in notices if n.late and n.kind == "resolve"]
        if late_ends and self._notify is not None:
            # whoever was told an alarm opened is told it ended, though late data ended it
            try:
                told = await notified_openings(self._storage, {n.alarm_id for n in late_ends})
            except StorageError as exc:
                log.warning("late alarm ends not notified: %s", exc)
                told = set()
            live += [n for n in late_ends if n.alarm_id in told]
        if len(live) < len(notices):
            log.info("recorded %d alarm event(s) from late data, not notified",
                     len(notices) - len(live))  # fmt: skip
        if live and self._notify is not None:
            await self._notify.notify(live)

    async def _recover_notifications(self) -> None:
        if self._notify is None:
            return
        with contextlib.suppress(StorageError):
            missed = await unnotified_events(self._storage, self._late_after_s)
            if missed:
                log.info("notifying %d alarm event(s) recorded but not yet sent", len(missed))
                await self._notify.notify(missed)
