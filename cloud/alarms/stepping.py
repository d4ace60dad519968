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

Readings come from the feed as (series id, time, value); what the stepper keeps of
each series and gateway between steps is its :class:`cloud.alarms.series_book.SeriesBook`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cloud.alarms.evaluator import DEFAULT_LATE_AFTER_S, Evaluator
from cloud.alarms.events import GatewayStatus, Transition
from cloud.alarms.rules import AbsenceRule, Rule
from cloud.alarms.scope import watched
from cloud.alarms.series_book import SeriesBook
from cloud.storage import Storage
from cloud.storage.alarm_eval import (
    EvaluationTx,
    Notice,
    evaluation,
    gateway_context,
)
from cloud.storage.alarm_feed import FeedPosition, FeedStep
from cloud.storage.alarm_rules import enabled_rules

log = logging.getLogger(__name__)


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
        self._book = SeriesBook()

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
        self._book.forget_stations()

    async def refresh_stations(self) -> None:
        """Read the known gateways' station metadata (site, region, targets, zones) again;
        the series of a gateway whose metadata changed are rebuilt, and absence rules stop
        watching those that moved out of their scope (saved with the next step).

        Raises:
            StorageError: nothing changed.
        """
        book = self._book
        if not book.context:
            return
        fresh = await gateway_context(self._storage, list(book.context))
        moved = book.update_stations(fresh, self._evaluator)
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
            self._evaluator.unwatch(changed, self._book.built_series())
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
                await self._learn(tx, feed)
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
                self._book.relimit(self._evaluator, now_ms)  # e.g. a fast device removed
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
        out = evaluator.feed_bound(self._book.samples(evaluator, feed.readings), now_ms)
        for presence in feed.presences:
            ctx = self._book.context.get(presence.gateway_id)
            if ctx is not None:
                status = GatewayStatus(ctx.tenant, presence.gateway_id, presence.time_ms,
                                       presence.online, ctx.site, ctx.region)  # fmt: skip
                out.extend(evaluator.status(status, now_ms))
        return out

    async def _learn(self, tx: EvaluationTx, feed: FeedStep) -> None:
        """Know the feed's new series and their gateways' stations."""
        book = self._book
        missing = book.unknown_series(feed.readings)
        if missing:
            book.add_series(await tx.series_names(missing))
        gateways = book.missing_gateways(
            book.gateways_of(feed.readings) | {p.gateway_id for p in feed.presences}
        )
        if gateways:
            book.context.update(await gateway_context(self._storage, gateways))


def _rule_of(state_key: str) -> str:
    """The rule id of a state key (``rule_id|subject``)."""
    return state_key.partition("|")[0]
