"""``Stepper``: one step of alarm evaluation, from the feed to recorded alarms, in one transaction.

Layer: asyncio over :mod:`cloud.storage` (the pure :class:`Evaluator` does the
thinking); no waiting, no leadership, no notification (that is
:mod:`cloud.alarms.worker`). A step, under the evaluation lock:

1. if the stored generation is not the one this stepper last committed (first use,
   another evaluator stepped since, an error), reload the states and the position
   from the database;
2. choose the feed's next transactions (:func:`cloud.storage.alarm_feed.choose`); if
   the rules' version read with them moved, read the rules again (a rule change
   committed before a batch applies to that batch); read their rows (readings only
   of the tenants and quantities the rules can watch);
3. evaluate their readings in time order (the series' station metadata from the
   site registry), then the presence changes; "late" is judged against the clock:
   readings evaluated more than ``late_after_s`` after they were measured
   (backfill after an outage of a gateway, of ingest or of the evaluator);
4. record the transitions as alarms and events, save every state whose alarm the step
   changed (level, pending level) and the new position, commit: a crash loses nothing
   and repeats nothing.

States that changed only their window (rates, moving means, rainfall) or the time of
their newest reading are saved at checkpoints instead: at every :meth:`Stepper.tick`
(the worker's ``tick_s``, 30 s), before the rules are swapped, and when the worker
stops. Saving them with every step cost a row write per reading. A crash loses at
most a checkpoint interval of window points (a rate or a mean starts from fewer
points); never an open alarm, a pending one, or a transition.

Readings come from the feed as (series id, time, value); the stepper keeps per series
its name, its station's metadata, its poll interval as observed and the bindings of
the rules watching it, so a reading costs a dictionary lookup and its bindings. Its
interval is learnt by :func:`cloud.alarms.intervals.learn`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Literal

from cloud.alarms.binding import Binding
from cloud.alarms.evaluator import DEFAULT_LATE_AFTER_S, Evaluator
from cloud.alarms.events import GatewayStatus, Sample, Series, Transition
from cloud.alarms.intervals import NOT_YET, TOLERANCE, Interval, learn
from cloud.alarms.rules import AbsenceRule, Rule
from cloud.alarms.scope import watched
from cloud.storage import Storage
from cloud.storage.alarm_eval import (
    EvaluationTx,
    GatewayContext,
    Notice,
    evaluation,
    gateway_context,
)
from cloud.storage.alarm_feed import FeedPosition, FeedReading, FeedStep, SeriesName
from cloud.storage.alarm_rules import enabled_rules

log = logging.getLogger(__name__)

_WATER_BODIES = ("river", "lake")
_TIME = itemgetter(1)  # of a FeedReading
# a series silent for this many of its intervals no longer sets its gateway's interval
_GONE_AFTER = 10


@dataclass(slots=True, eq=False)
class _Known:
    """What the stepper keeps of one series between steps."""

    name: SeriesName
    last_ms: int | None = None  # its newest reading's time
    interval: Interval = NOT_YET  # its poll interval, as observed
    series: Series | None = None  # None: to be built (metadata or interval changed)
    bindings: Sequence[Binding] = ()
    bound_to: Evaluator | None = None  # the evaluator the bindings belong to


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
        self._watched = watched([])  # what the rules can watch: the feed reads no more
        self._evaluator = Evaluator([], late_after_s=late_after_s)
        self._generation: int | None = None  # None: reload states and position at next use
        self._rules_version: int | None = None  # None: read the rules at next use
        self._position = FeedPosition()
        self._context: dict[str, GatewayContext] = {}
        self._known: dict[int, _Known] = {}  # by series id
        self._of_gateway: dict[str, list[_Known]] = {}  # the known series of each gateway
        self._fastest: dict[str, float | None] = {}  # by gateway: its series' shortest interval

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
        self._context.clear()
        for known in self._known.values():
            known.series = None

    async def refresh_stations(self) -> None:
        """Read the known gateways' station metadata (site, region, targets, zones) again;
        the series of a gateway whose metadata changed are rebuilt, and absence rules stop
        watching those that moved out of their scope (saved with the next step).

        Raises:
            StorageError: nothing changed.
        """
        if not self._context:
            return
        fresh = await gateway_context(self._storage, list(self._context))
        changed = {g for g, ctx in self._context.items() if fresh.get(g) != ctx}
        if not changed:
            return
        for gateway_id in changed:
            if gateway_id in fresh:
                self._context[gateway_id] = fresh[gateway_id]
            else:
                del self._context[gateway_id]  # gone: its readings are skipped
        moved: list[Series] = []
        for known in self._known.values():
            if known.name.gateway_id in changed:
                known.series = None
                series = self._bind(self._evaluator, known)
                if series is not None:
                    moved.append(series)
        # a series moved out of an absence rule's scope (another site, tenant, region) must
        # not be called silent by it: its readings no longer reach the rule
        absent = [rule.id for rule in self._rules if isinstance(rule, AbsenceRule)]
        self._evaluator.unwatch(absent, moved)

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
        before = {rule.id: rule for rule in self._rules}
        changed = [r.id for r in rules if r.id in before and before[r.id] != r]
        # a rule gone (disabled, deleted) or of another kind: its states were forgotten
        # with the change (cloud.storage.alarm_rules); what this evaluator holds of them too
        kinds = {rule.id: rule.kind for rule in rules}
        void = {i for i, rule in before.items() if kinds.get(i) != rule.kind}
        self._rules = rules
        self._watched = watched(rules)
        self._severities = {rule.id: rule.severity for rule in rules}
        # what waits for a checkpoint is saved now: the new evaluator starts clean
        touched = self._evaluator.take_touched()
        await tx.save_states(
            self._evaluator.states_of(k for k in touched if _rule_of(k) not in void)
        )
        # the stored states (of rules the evaluator did not have yet, too), and what this
        # evaluator holds beyond them (a quiet state's newest reading time)
        held = self._evaluator.snapshot()
        snapshot = await tx.states() | {k: v for k, v in held.items() if _rule_of(k) not in void}
        self._evaluator = Evaluator(rules, late_after_s=self._late_after_s, snapshot=snapshot)
        self._evaluator.take_dirty()
        if changed:
            # a changed absence rule no longer watching a series must not call it silent
            known = [k.series for k in self._known.values() if k.series is not None]
            self._evaluator.unwatch(changed, known)
            await tx.save_states(self._evaluator.states_of(self._evaluator.take_dirty()))
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
                watched = self._watched
                feed = await tx.read(
                    chosen,
                    readings=bool(self._rules),
                    tenants=watched.tenants,
                    quantities=watched.quantities,
                )
                if feed.position == self._position and not feed.transactions:
                    return feed, []  # nothing new: write nothing
                await self._learn_series(tx, feed.readings)
                await self._learn_gateways(
                    {self._known[r.series_id].name.gateway_id for r in feed.readings
                     if r.series_id in self._known}
                    | {p.gateway_id for p in feed.presences}
                )  # fmt: skip
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
                for gateway_id, mine in self._of_gateway.items():
                    if self._fastest_of(gateway_id, now_ms):  # e.g. a fast device removed
                        for known in mine:  # its limits now, not at its next reading
                            series = self._bind(self._evaluator, known)
                            if series is not None:
                                self._evaluator.relimit(series)
                notices = await self._evaluate(tx, lambda ev: ev.tick(now_ms), checkpoint=True)
                generation = await tx.advance(None, self._name)
                self._generation = generation if notices is not None else None
                return notices or []
        except BaseException:
            self._generation = None
            raise

    async def checkpoint(self) -> None:
        """Save what waits for a checkpoint (windows, newest times) now, e.g. before a stop.

        Raises:
            StorageError: nothing was saved; the next step reloads.
        """
        try:
            async with evaluation(self._storage) as tx:
                position = await tx.position()
                if position.generation != self._generation:
                    return  # another evaluator stepped since: what this one holds is stale
                await tx.save_states(self._evaluator.states_of(self._evaluator.take_touched()))
                self._generation = await tx.advance(None, self._name)
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
        self,
        tx: EvaluationTx,
        run: Callable[[Evaluator], list[Transition]],
        *,
        checkpoint: bool = False,
    ) -> list[Notice] | None:
        """The events recorded; None if evaluation failed (a bug: this step's data is
        skipped, and the states saved before are reloaded after the commit).

        Saves the states whose alarm changed; with ``checkpoint``, every state changed.
        """
        try:
            transitions = run(self._evaluator)
        except Exception:  # a bug must not stop evaluation of what comes after
            log.exception("alarm evaluation failed; the data of this step is skipped")
            return None
        notices = await tx.record(transitions, self._severities)
        evaluator = self._evaluator
        changed = evaluator.take_touched() if checkpoint else evaluator.take_dirty()
        await tx.save_states(evaluator.states_of(changed))
        return notices

    def _run(self, evaluator: Evaluator, feed: FeedStep, now_ms: int) -> list[Transition]:
        out = evaluator.feed_bound(self._samples(evaluator, feed.readings), now_ms)
        for presence in feed.presences:
            ctx = self._context.get(presence.gateway_id)
            if ctx is not None:
                status = GatewayStatus(ctx.tenant, presence.gateway_id, presence.time_ms,
                                       presence.online, ctx.site, ctx.region)  # fmt: skip
                out.extend(evaluator.status(status, now_ms))
        return out

    async def _learn_series(self, tx: EvaluationTx, readings: list[FeedReading]) -> None:
        missing = {r.series_id for r in readings} - self._known.keys()
        if missing:
            for series_id, name in (await tx.series_names(missing)).items():
                known = self._known[series_id] = _Known(name)
                self._of_gateway.setdefault(name.gateway_id, []).append(known)

    async def _learn_gateways(self, gateway_ids: Iterable[str]) -> None:
        missing = set(gateway_ids) - self._context.keys()
        if missing:
            self._context.update(await gateway_context(self._storage, missing))

    def _samples(
        self, evaluator: Evaluator, readings: list[FeedReading]
    ) -> list[tuple[Sample, Sequence[Binding]]]:
        """The readings some rule watches, in time order, each with its bindings."""
        out = []
        known_of = self._known.get
        # in time order: a series' interval is learnt from consecutive readings
        for series_id, time_ms, value in sorted(readings, key=_TIME):
            known = known_of(series_id)
            if known is None:
                continue  # deleted meanwhile
            last = known.last_ms
            if last is None or time_ms > last:
                if last is not None:
                    gap_s, interval = (time_ms - last) / 1000, known.interval
                    seconds = interval.seconds
                    # the usual case, the same interval give or take jitter, needs no learning
                    if (
                        seconds is None
                        or interval.other
                        or abs(gap_s - seconds) > TOLERANCE * seconds
                    ):
                        known.interval = learn(interval, gap_s)
                        if known.interval.seconds != seconds:
                            known.series = None  # a new interval: a new silence limit
                            known.last_ms = time_ms
                            self._fastest_of(known.name.gateway_id, time_ms)
                known.last_ms = time_ms
            series = known.series
            if series is None or known.bound_to is not evaluator:
                series = self._bind(evaluator, known)
                if series is None:
                    continue  # its gateway is not known
            if known.bindings:
                out.append((Sample(series, time_ms, value), known.bindings))
        return out

    def _fastest_of(self, gateway_id: str, at_ms: int) -> bool:
        """Follow the shortest interval of a gateway's series (a gateway absence rule's
        silence limit is a multiple of it); its series are rebuilt when it changes.
        A series silent at ``at_ms`` for 10 of its intervals (a device removed) no
        longer counts. True if it changed."""
        mine = self._of_gateway.get(gateway_id, [])
        seconds = [
            k.interval.seconds for k in mine
            if k.interval.seconds is not None and k.last_ms is not None
            and at_ms - k.last_ms <= _GONE_AFTER * k.interval.seconds * 1000
        ]  # fmt: skip
        fastest = min(seconds) if seconds else None
        if fastest == self._fastest.get(gateway_id):
            return False
        self._fastest[gateway_id] = fastest
        for known in mine:
            known.series = None
        return True

    def _bind(self, evaluator: Evaluator, known: _Known) -> Series | None:
        """The series with its station's metadata and interval, bound to ``evaluator``'s
        rules; None if its gateway is not known."""
        name = known.name
        ctx = self._context.get(name.gateway_id)
        if ctx is None:
            return None
        if known.series is None:
            body: Literal["river", "lake"] | None = (
                ctx.water_body if ctx.water_body in _WATER_BODIES else None  # type: ignore[assignment]
            )
            known.series = Series(
                ctx.tenant, name.gateway_id, name.device, name.quantity, ctx.site, ctx.region,
                known.interval.seconds, ctx.time_zone, ctx.water_target, body, ctx.noise_zone,
                self._fastest.get(name.gateway_id),
            )  # fmt: skip
        known.bindings = evaluator.bindings(known.series)
        known.bound_to = evaluator
        return known.series


def _rule_of(state_key: str) -> str:
    """The rule id of a state key (``rule_id|subject``)."""
    return state_key.partition("|")[0]
