"""``Stepper``: one step of alarm evaluation, from the feed to recorded alarms, in one transaction.

Layer: asyncio over :mod:`cloud.storage` (the pure :class:`Evaluator` does the
thinking); no waiting, no leadership, no notification (that is
:mod:`cloud.alarms.worker`). A step, under the evaluation lock:

1. if the stored generation is not the one this stepper last committed (first use,
   another evaluator stepped since, an error), reload the states and the position
   from the database;
2. choose the feed's next transactions (:func:`cloud.storage.alarm_feed.choose`); if
   the rules' version read with them moved, read the rules again (a rule change
   committed before a batch applies to that batch); read their rows;
3. evaluate their readings in time order (the series' station metadata from the
   site registry), then the presence changes; "late" is judged against the clock:
   readings evaluated more than ``late_after_s`` after they were measured
   (backfill after an outage of a gateway, of ingest or of the evaluator);
4. record the transitions as alarms and events, save every state the step touched
   and the new position, commit: a crash loses nothing and repeats nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Literal

from cloud.alarms.evaluator import DEFAULT_LATE_AFTER_S, Evaluator
from cloud.alarms.events import GatewayStatus, Sample, Series, Transition
from cloud.alarms.rules import Rule
from cloud.storage import Storage
from cloud.storage.alarm_eval import (
    EvaluationTx,
    GatewayContext,
    Notice,
    evaluation,
    gateway_context,
)
from cloud.storage.alarm_feed import FeedPosition, FeedReading, FeedStep
from cloud.storage.alarm_rules import enabled_rules

log = logging.getLogger(__name__)

SeriesKey = tuple[str, str, str]
_WATER_BODIES = ("river", "lake")


class Stepper:
    """The evaluator's memory between steps; see the module docstring.

    Args:
        storage: an open :class:`Storage`.
        name: recorded with each step (which evaluator moved the position).
        late_after_s: transitions of readings older than this when evaluated are late.
        step_limit: rows of each log read per step, at most.
    """

    def __init__(
        self,
        storage: Storage,
        *,
        name: str,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
        step_limit: int = 2000,
    ) -> None:
        self._storage = storage
        self._name = name
        self._late_after_s = late_after_s
        self._step_limit = step_limit
        self._rules: list[Rule] = []
        self._severities: dict[str, str] = {}
        self._evaluator = Evaluator([], late_after_s=late_after_s)
        self._generation: int | None = None  # None: reload states and position at next use
        self._rules_version: int | None = None  # None: read the rules at next use
        self._position = FeedPosition()
        self._context: dict[str, GatewayContext] = {}
        self._series: dict[SeriesKey, Series] = {}
        self._last_ms: dict[SeriesKey, int] = {}

    @property
    def rules(self) -> list[Rule]:
        """The enabled rules evaluated."""
        return list(self._rules)

    @property
    def position(self) -> FeedPosition:
        """The position after the last step committed (or loaded)."""
        return self._position

    def forget(self) -> None:
        """Reload states and position at the next step; read stations' metadata afresh."""
        self._generation = None
        self.refresh_stations()

    def refresh_stations(self) -> None:
        """Read the stations' metadata (site, region, targets, zones) afresh when next needed."""
        self._context.clear()
        self._series.clear()

    def reload_rules(self) -> None:
        """Read the enabled rules again at the next step (a step also does so by itself
        whenever the rules' version in the database moved)."""
        self._rules_version = None

    async def _rules_at(self, tx: EvaluationTx, version: int) -> None:
        """The rules of ``version`` (or newer); states of rules kept carry over."""
        if version == self._rules_version:
            return
        rules = await enabled_rules(self._storage)
        self._rules_version = version
        if rules == self._rules:
            return
        self._rules = rules
        self._severities = {rule.id: rule.severity for rule in rules}
        # the stored states (of rules the evaluator did not have yet, too), and what this
        # evaluator holds beyond them (a quiet state's newest reading time)
        snapshot = await tx.states() | self._evaluator.snapshot()
        self._evaluator = Evaluator(rules, late_after_s=self._late_after_s, snapshot=snapshot)
        self._evaluator.take_dirty()
        log.info("evaluating %d alarm rule(s)", len(rules))

    async def step(self, now_ms: int) -> tuple[FeedStep, list[Notice]]:
        """Evaluate the feed's next transactions; what was read, and the events recorded.

        Raises:
            StorageError: nothing of the step was committed; the next one reloads.
        """
        try:
            async with evaluation(self._storage) as tx:
                await self._load(tx)
                chosen = await tx.choose(self._position, limit=self._step_limit)
                # a rule change committed before a batch of this step applies to it
                await self._rules_at(tx, chosen.rules_version)
                feed = await tx.read(chosen, readings=bool(self._rules))
                if feed.position == self._position and not feed.transactions:
                    return feed, []  # nothing new: write nothing
                await self._learn_gateways(
                    {r.gateway_id for r in feed.readings} | {p.gateway_id for p in feed.presences}
                )
                notices = await self._evaluate(tx, lambda ev: self._run(ev, feed, now_ms))
                generation = await tx.advance(feed.position, self._name)
                self._generation = generation if notices is not None else None
                self._position = feed.position
                return feed, notices or []
        except BaseException:
            self._generation = None  # memory may be ahead of the database
            raise

    async def tick(self, now_ms: int) -> list[Notice]:
        """Open silence alarms due at ``now_ms``; the events recorded.

        Raises:
            StorageError: nothing was committed; the next step reloads.
        """
        try:
            async with evaluation(self._storage) as tx:
                await self._load(tx)
                await self._rules_at(tx, await tx.rules_version())
                if not self._rules:
                    return []
                notices = await self._evaluate(tx, lambda ev: ev.tick(now_ms))
                generation = await tx.advance(None, self._name)
                self._generation = generation if notices is not None else None
                return notices or []
        except BaseException:
            self._generation = None
            raise

    async def _load(self, tx: EvaluationTx) -> None:
        position = await tx.position()
        if position.generation == self._generation:
            return
        # first use, another evaluator stepped since, rules changed, or an error: the
        # database holds the truth (states and position are saved together)
        self._evaluator = Evaluator(
            self._rules, late_after_s=self._late_after_s, snapshot=await tx.states()
        )
        self._evaluator.take_dirty()
        self._position, self._generation = position, position.generation

    async def _evaluate(
        self, tx: EvaluationTx, run: Callable[[Evaluator], list[Transition]]
    ) -> list[Notice] | None:
        """The events recorded; None if evaluation failed (a bug: this step's data is
        skipped, and the states saved before are reloaded after the commit)."""
        try:
            transitions = run(self._evaluator)
        except Exception:  # a bug must not stop evaluation of what comes after
            log.exception("alarm evaluation failed; the data of this step is skipped")
            return None
        notices = await tx.record(transitions, self._severities)
        await tx.save_states(self._evaluator.states_of(self._evaluator.take_dirty()))
        return notices

    def _run(self, evaluator: Evaluator, feed: FeedStep, now_ms: int) -> list[Transition]:
        out = evaluator.feed(self._samples(feed.readings), now_ms)
        for presence in feed.presences:
            ctx = self._context.get(presence.gateway_id)
            if ctx is not None:
                status = GatewayStatus(ctx.tenant, presence.gateway_id, presence.time_ms,
                                       presence.online, ctx.site, ctx.region)  # fmt: skip
                out.extend(evaluator.status(status, now_ms))
        return out

    async def _learn_gateways(self, gateway_ids: Iterable[str]) -> None:
        missing = set(gateway_ids) - self._context.keys()
        if missing:
            self._context.update(await gateway_context(self._storage, missing))

    def _samples(self, readings: list[FeedReading]) -> list[Sample]:
        out = []
        # in time order: a series' interval is learnt from consecutive readings
        for reading in sorted(readings, key=_time_of):
            context = self._context.get(reading.gateway_id)
            if context is None:
                continue
            key = (reading.gateway_id, reading.device, reading.quantity)
            series = self._series_of(key, context, reading.time_ms)
            out.append(Sample(series, reading.time_ms, reading.value))
        return out

    def _series_of(self, key: SeriesKey, ctx: GatewayContext, time_ms: int) -> Series:
        """The series with its station's metadata and its poll interval as last observed."""
        last = self._last_ms.get(key)
        self._last_ms[key] = max(time_ms, last or time_ms)
        series = self._series.get(key)
        interval_s = (time_ms - last) / 1000 if last is not None and time_ms > last else None
        if series is None or (interval_s and series.interval_s != interval_s):
            body: Literal["river", "lake"] | None = (
                ctx.water_body if ctx.water_body in _WATER_BODIES else None  # type: ignore[assignment]
            )
            series = Series(
                ctx.tenant, key[0], key[1], key[2], ctx.site, ctx.region,
                interval_s or (series.interval_s if series else None), ctx.time_zone,
                ctx.water_target, body, ctx.noise_zone,
            )  # fmt: skip
            self._series[key] = series
        return series


def _time_of(reading: FeedReading) -> int:
    return reading.time_ms
