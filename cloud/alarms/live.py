"""``AlarmEngine``: the evaluator run beside ingest, off its critical path.

Layer: asyncio service over :mod:`cloud.storage` (the pure evaluator does the
thinking). The ingest pipeline calls :meth:`AlarmEngine.batch_committed` /
:meth:`AlarmEngine.status_committed` after a commit; those only put the batch on
an in-process queue and return, so ingest never waits for evaluation. One task
drains the queue: it takes everything queued, sorts the readings by time (a
backfill is evaluated in time order), and in one transaction under the
evaluation advisory lock reloads the state if another worker saved since, feeds
the evaluator, records the transitions as alarms and saves the touched states.
Then it hands the recorded events to the notifier; events caused by late data
(backfill) are recorded but not notified. A second task ticks: silence checks,
and a reload of the rules and the stations' metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from cloud.alarms.evaluator import DEFAULT_LATE_AFTER_S, Evaluator
from cloud.alarms.events import GatewayStatus, Sample, Series, Transition
from cloud.alarms.rules import Rule
from cloud.errors import StorageError
from cloud.storage import Storage
from cloud.storage.alarm_eval import GatewayContext, Notice, evaluation, gateway_context
from cloud.storage.alarm_rules import enabled_rules
from wire import Batch, Quality

log = logging.getLogger(__name__)


class AlarmSink(Protocol):
    """What hears of recorded alarm events (the notifier)."""

    async def notify(self, notices: Sequence[Notice]) -> None:
        """Events recorded, not late; must not wait for slow receivers."""

    async def tick(self) -> None:
        """Called with every tick of the engine (escalations)."""


_RETRY_FIRST_S = 0.2
_RETRY_MAX_S = 10.0
_MAX_QUEUE = 100_000


@dataclass(frozen=True, slots=True)
class _Status:
    gateway_id: str
    online: bool
    time_ms: int


@dataclass(frozen=True, slots=True)
class _Batch:
    batch: Batch
    committed_ms: int


class AlarmEngine:
    """Evaluate committed batches against the stored rules; see the module docstring.

    Args:
        storage: an open :class:`Storage`, shared with ingest.
        notify: told of the events recorded (not late) after each commit, and ticked.
        late_after_s: readings older than this when committed raise late alarms.
        tick_s: how often silence is checked and rules are reloaded.
        checkpoint_s: the state of subjects whose alarms changed is saved with the change;
            the rest (windows, candidates) at most this often, and at :meth:`stop`.
        gather_s: after a batch arrives, wait this long for more to evaluate together.
        clock: seconds since the epoch (tests may pass their own).
    """

    def __init__(
        self,
        storage: Storage,
        *,
        notify: AlarmSink | None = None,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
        tick_s: float = 30.0,
        checkpoint_s: float = 2.0,
        gather_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._storage = storage
        self._notify = notify
        self._late_after_s = late_after_s
        self._tick_s = tick_s
        self._checkpoint_s = checkpoint_s
        self._gather_s = gather_s
        self._unsaved: set[str] = set()  # keys of states changed since the last save
        self._saved_at = time.monotonic()
        self._clock = clock
        self._queue: asyncio.Queue[_Batch | _Status] = asyncio.Queue(_MAX_QUEUE)
        self._rules: list[Rule] = []
        self._severities: dict[str, str] = {}
        self._evaluator = Evaluator([], late_after_s=late_after_s)
        self._version: int | None = None  # state version this evaluator holds; None: reload
        self._context: dict[str, GatewayContext] = {}
        self._series: dict[tuple[str, str, str], Series] = {}
        self._last_ms: dict[tuple[str, str, str], int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped = 0
        self.recorded: list[Notice] = []  # every event this engine recorded (for tests, bench)

    async def start(self) -> None:
        """Load rules, then start draining and ticking (state is loaded at first use)."""
        try:
            await self.reload_rules()
        except StorageError as exc:  # ingest must start anyway; the tick loads them later
            log.warning("alarm rules not loaded yet: %s", exc)
        self._tasks = [
            asyncio.create_task(self._drain(), name="shanshui-alarms"),
            asyncio.create_task(self._ticking(), name="shanshui-alarm-tick"),
        ]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Evaluate what is queued (within ``drain_timeout_s``), then stop."""
        if self._tasks and drain_timeout_s > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout_s):
                    await self._queue.join()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._unsaved:
            try:
                await self._evaluate(lambda _: [], checkpoint=True)
            except StorageError as exc:
                log.warning("alarm state not saved at stop: %s", exc)

    def batch_committed(self, batch: Batch) -> None:
        """Queue a committed batch for evaluation; returns at once."""
        if self._rules:
            self._put(_Batch(batch, int(self._clock() * 1000)))

    def status_committed(self, gateway_id: str, online: bool) -> None:
        """Queue a gateway's committed presence; returns at once."""
        if self._rules:
            self._put(_Status(gateway_id, online, int(self._clock() * 1000)))

    async def idle(self) -> None:
        """Wait until everything queued so far is evaluated (and notified)."""
        await self._queue.join()

    async def reload_rules(self) -> None:
        """Read the enabled rules again; states of unchanged rules carry over."""
        rules = await enabled_rules(self._storage)
        if rules != self._rules:
            self._rules = rules
            self._severities = {rule.id: rule.severity for rule in rules}
            self._version = None  # rebuild the evaluator from stored state at next use

    async def tick(self) -> None:
        """Check silence now (the ticking task calls this every ``tick_s``)."""
        if not self._rules:
            return
        now_ms = int(self._clock() * 1000)
        await self._evaluate(lambda evaluator: evaluator.tick(now_ms))

    def _put(self, item: _Batch | _Status) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning("alarm queue full: %d batches not evaluated", self._dropped)

    async def _ticking(self) -> None:
        while True:
            await asyncio.sleep(self._tick_s)
            try:
                await self.reload_rules()
                self._context.clear()
                self._series.clear()
                await self.tick()
                if self._notify is not None:
                    await self._notify.tick()
            except StorageError as exc:
                log.warning("alarm tick failed: %s", exc)

    async def _drain(self) -> None:
        while True:
            items = [await self._queue.get()]
            # let a burst gather for a moment: one evaluation transaction for all of it
            await asyncio.sleep(self._gather_s)
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                await self._evaluate_items(items)
            except Exception:  # a bug must not stop evaluation of later batches
                log.exception("alarm evaluation failed for %d queued item(s)", len(items))
            finally:
                for _ in items:
                    self._queue.task_done()

    async def _evaluate_items(self, items: list[_Batch | _Status]) -> None:
        if not self._rules:
            return
        batches = [item for item in items if isinstance(item, _Batch)]
        statuses = [item for item in items if isinstance(item, _Status)]
        await self._learn_gateways({i.batch.gateway_id for i in batches} | {
            s.gateway_id for s in statuses
        })  # fmt: skip
        # one evaluation for the whole burst, in time order; "late" is judged against the
        # newest commit of the burst (they lie gather_s apart at most)
        samples = [sample for item in batches for sample in self._samples(item.batch)]
        now_ms = max(i.committed_ms if isinstance(i, _Batch) else i.time_ms for i in items)
        gateway_statuses = [
            GatewayStatus(ctx.tenant, s.gateway_id, s.time_ms, s.online, ctx.site, ctx.region)
            for s in statuses
            if (ctx := self._context.get(s.gateway_id)) is not None
        ]

        def run(evaluator: Evaluator) -> list[Transition]:
            out = evaluator.feed(samples, now_ms)
            for status in gateway_statuses:
                out.extend(evaluator.status(status, now_ms))
            return out

        await self._evaluate(run)

    async def _evaluate(
        self, step: Callable[[Evaluator], list[Transition]], *, checkpoint: bool = False
    ) -> None:
        delay_s = _RETRY_FIRST_S
        while True:
            try:
                notices = await self._evaluate_once(step, checkpoint)
            except StorageError as exc:
                log.warning("alarm evaluation: database unavailable, retrying: %s", exc)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, _RETRY_MAX_S)
                continue
            break
        self.recorded.extend(notices)
        live = [n for n in notices if not n.late]
        if len(live) < len(notices):
            log.info("recorded %d alarm event(s) from late data, not notified",
                     len(notices) - len(live))  # fmt: skip
        if live and self._notify is not None:
            await self._notify.notify(live)

    async def _evaluate_once(
        self, step: Callable[[Evaluator], list[Transition]], checkpoint: bool
    ) -> list[Notice]:
        try:
            return await self._evaluate_in(step, checkpoint)
        except StorageError:
            # nothing of this step was committed and memory is ahead: start again from the
            # database (progress since the last checkpoint is evaluated again or lost)
            self._unsaved = set()
            self._version = None
            raise

    async def _evaluate_in(
        self, step: Callable[[Evaluator], list[Transition]], checkpoint: bool
    ) -> list[Notice]:
        async with evaluation(self._storage) as tx:
            version = await tx.version()
            if version != self._version:
                # another worker saved since (or first use): its states, then what this
                # worker evaluated since its own last save
                snapshot = await tx.states() | self._evaluator.states_of(self._unsaved)
                self._evaluator = Evaluator(
                    self._rules, late_after_s=self._late_after_s, snapshot=snapshot
                )
            self._version = version
            transitions = step(self._evaluator)
            notices = await tx.record(transitions, self._severities)
            self._unsaved |= self._evaluator.take_dirty()
            now = time.monotonic()
            if checkpoint or now - self._saved_at >= self._checkpoint_s:
                self._version = await tx.save_states(self._evaluator.states_of(self._unsaved))
                self._unsaved, self._saved_at = set(), now
            elif transitions:
                # an alarm changed: its subject's state is saved with it, in this transaction
                keys = {t.alarm_key for t in transitions} & self._unsaved
                self._version = await tx.save_states(self._evaluator.states_of(keys))
                self._unsaved -= keys
            return notices

    async def _learn_gateways(self, gateway_ids: set[str]) -> None:
        missing = gateway_ids - self._context.keys()
        if missing:
            self._context.update(await gateway_context(self._storage, missing))

    def _samples(self, batch: Batch) -> list[Sample]:
        context = self._context.get(batch.gateway_id)
        if context is None:
            return []
        out = []
        for reading in batch.readings:
            if reading.quality != Quality.NORMAL:
                continue  # maintenance, calibration, faults: not the environment speaking
            key = (batch.gateway_id, reading.device, reading.quantity)
            out.append(Sample(self._series_of(key, context, reading.time_ms), reading.time_ms,
                              reading.value))  # fmt: skip
        return out

    def _series_of(self, key: tuple[str, str, str], ctx: GatewayContext, time_ms: int) -> Series:
        """The series with its station's metadata and its poll interval as last observed."""
        last = self._last_ms.get(key)
        self._last_ms[key] = max(time_ms, last or time_ms)
        series = self._series.get(key)
        interval_s = (time_ms - last) / 1000 if last is not None and time_ms > last else None
        if series is None or (interval_s and series.interval_s != interval_s):
            body = ctx.water_body if ctx.water_body in ("river", "lake") else None
            series = Series(
                ctx.tenant, key[0], key[1], key[2], ctx.site, ctx.region,
                interval_s or (series.interval_s if series else None), ctx.time_zone,
                ctx.water_target, body, ctx.noise_zone,  # type: ignore[arg-type]
            )  # fmt: skip
            self._series[key] = series
        return series
