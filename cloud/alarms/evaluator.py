"""The alarm evaluator: readings in time order in, alarm transitions out.

Layer: pure state machine; no I/O, no clock (time comes in with every call).
The ingest path feeds each committed batch, the operator's process calls
:meth:`Evaluator.tick` now and then for silence, and storage persists
:meth:`Evaluator.snapshot` so that a restart neither re-fires nor forgets.

Per rule and subject (a series, a station, a gateway) the evaluator keeps a
:class:`cloud.alarms.state.RuleState`; each series' rules are bound to their states
once (:meth:`Evaluator.bindings`), so a reading only follows its bindings. A
condition must hold ``for_s`` seconds (of data time) before an alarm opens or
changes level, and be gone ``clear_for_s`` seconds before it resolves. Readings
older than the newest one already evaluated for a subject are stale and skipped, so
a replayed batch changes nothing. Transitions caused by readings measured more than
``late_after_s`` before they were evaluated (backfill after an outage) are
marked ``late``: record them, do not notify.

Two kinds of change are told apart for storage: a *dirty* state changed what an
alarm is (level, a level pending since when, the cause or the silence limit), or is a
geohazard rule's (its rain sum must not lose a point), and is saved with the step
that changed it; a *touched* one changed only its window or the
time of its newest reading, and is saved at the next checkpoint
(:meth:`Evaluator.take_touched`), not with every reading.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cloud.alarms import conditions
from cloud.alarms.binding import Binding, Condition, silence_limit_ms, subject_of
from cloud.alarms.conditions import Verdict
from cloud.alarms.events import GatewayStatus, Sample, Series, Transition, TransitionKind
from cloud.alarms.rules import (
    AbsenceRule,
    AqiRule,
    GeohazardRule,
    NoiseRule,
    RateRule,
    Rule,
    ThresholdRule,
    WaterClassRule,
)
from cloud.alarms.scope import watches, watches_gateway
from cloud.alarms.state import RuleState

DEFAULT_LATE_AFTER_S = 600.0
_CONDITIONS: dict[type, Condition] = {
    ThresholdRule: conditions.threshold,
    RateRule: conditions.rate,
    AqiRule: conditions.aqi,
    WaterClassRule: conditions.water_class,
    NoiseRule: conditions.noise,
    GeohazardRule: conditions.geohazard,
}
StateKey = tuple[str, str]


class Evaluator:
    """Alarm state of a set of rules, advanced by readings, statuses and ticks."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        late_after_s: float = DEFAULT_LATE_AFTER_S,
        snapshot: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Start from ``snapshot`` (as :meth:`snapshot` returned it), or from nothing.

        States of rules no longer given are dropped.
        """
        self._rules = {rule.id: rule for rule in rules if rule.enabled}
        # rules scoped to sites are looked up by (tenant, site), the others by tenant
        self._wide: dict[str, list[Rule]] = defaultdict(list)
        self._by_site: dict[tuple[str, str], list[Rule]] = defaultdict(list)
        for rule in self._rules.values():
            if not rule.scope.sites:
                self._wide[rule.tenant].append(rule)
            for site in rule.scope.sites:
                self._by_site[rule.tenant, site].append(rule)
        self._late_after_ms = late_after_s * 1000
        self._states: dict[StateKey, RuleState] = {}
        self._dirty: set[StateKey] = set()  # what an alarm is changed: save with the step
        self._touched: set[StateKey] = set()  # only a window or a time: save at a checkpoint
        # per series key: the series as last seen and its bindings (one entry per series,
        # replaced when its metadata or interval changes)
        self._bound: dict[str, tuple[Series, list[Binding]]] = {}
        for key, data in (snapshot or {}).items():
            rule_id, _, subject = key.partition("|")
            if rule_id in self._rules:
                self._states[rule_id, subject] = RuleState.from_dict(dict(data))

    def feed(self, samples: Iterable[Sample], now_ms: int) -> list[Transition]:
        """Evaluate readings (sorted here by time) against every rule that watches them."""
        ordered = sorted(samples, key=_time_of)
        return self.feed_bound([(s, self.bindings(s.series)) for s in ordered], now_ms)

    def feed_bound(
        self, items: Iterable[tuple[Sample, Sequence[Binding]]], now_ms: int
    ) -> list[Transition]:
        """:meth:`feed` for readings already in time order, each with the
        :meth:`bindings` of its series (a caller that keeps series resolves them once)."""
        out: list[Transition] = []
        late_before = now_ms - self._late_after_ms
        for sample, bound in items:
            late = sample.time_ms < late_before
            for binding in bound:
                if binding.condition is None:
                    self._heard(binding, sample, late, out)
                else:
                    self._judge(binding, sample, late, out)
        return out

    def bindings(self, series: Series) -> list[Binding]:
        """The rules watching ``series``, bound to their states (worked out once per series)."""
        cached = self._bound.get(series.key)
        if cached is not None and (cached[0] is series or cached[0] == series):
            return cached[1]
        found = [
            self._bind(rule, series)
            for rule in self._candidates(series.tenant, series.site)
            if watches(rule, series)
        ]
        self._bound[series.key] = (series, found)
        return found

    def _bind(self, rule: Rule, series: Series) -> Binding:
        subject = subject_of(rule, series)
        key = (rule.id, subject)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = RuleState()
        if isinstance(rule, AbsenceRule):
            limit_ms = silence_limit_ms(rule, series)
            return Binding(rule, subject, key, state, None, subject == series.key, limit_ms)
        condition = _CONDITIONS[type(rule)]
        durable = isinstance(rule, GeohazardRule)
        return Binding(rule, subject, key, state, condition, subject == series.key, None, durable)

    def status(self, status: GatewayStatus, now_ms: int) -> list[Transition]:
        """A gateway's presence: offline opens its gateway absence alarms, online resolves them."""
        out: list[Transition] = []
        late = now_ms - status.time_ms > self._late_after_ms
        for rule in self._candidates(status.tenant, status.site):
            if not (isinstance(rule, AbsenceRule) and rule.target == "gateway"):
                continue
            if not watches_gateway(rule, status):
                continue
            key, state = self._state(rule, status.gateway)
            if not status.online and not state.level:
                state.level, state.opened_ms, state.cause = 1, status.time_ms, "offline"
                self._dirty.add(key)
                detail = f"gateway {status.gateway} reports offline"
                out.append(
                    self._transition(rule, status.gateway, "open", status, detail=detail, late=late)
                )
            elif status.online and state.level and state.cause == "offline":
                state.level, state.opened_ms, state.cause = 0, None, None
                self._dirty.add(key)
                detail = f"gateway {status.gateway} is online again"
                out.append(
                    self._transition(
                        rule, status.gateway, "resolve", status, detail=detail, late=late
                    )
                )
        return out

    def tick(self, now_ms: int) -> list[Transition]:
        """Open absence alarms for every watched subject silent for longer than its limit."""
        out: list[Transition] = []
        for (rule_id, subject), state in self._states.items():
            rule = self._rules[rule_id]
            if not isinstance(rule, AbsenceRule) or state.level or state.limit_ms is None:
                continue
            if state.last_ms is not None and now_ms - state.last_ms > state.limit_ms:
                self._dirty.add((rule_id, subject))
                state.level, state.opened_ms, state.cause = 1, now_ms, "silent"
                since = datetime.fromtimestamp(state.last_ms / 1000, UTC).isoformat()
                out.append(
                    Transition(
                        rule.id, rule.tenant, subject, "open", now_ms, rule.severity, None,
                        f"{subject} silent since {since}",
                    )
                )  # fmt: skip
        return out

    def watch(self, series: Series, since_ms: int) -> None:
        """Start absence watching of a series not heard from yet (e.g. after registration)."""
        for rule in self._candidates(series.tenant, series.site):
            if isinstance(rule, AbsenceRule) and watches(rule, series):
                key, state = self._state(rule, subject_of(rule, series))
                state.limit_ms = silence_limit_ms(rule, series)
                if state.last_ms is None:
                    state.last_ms = since_ms
                self._dirty.add(key)

    def unwatch(self, rule_ids: Iterable[str], known: Iterable[Series]) -> None:
        """After absence rules ``rule_ids`` changed: stop watching for silence the subjects
        of ``known`` series that they no longer watch (their silence limit is cleared,
        saved with the step; a reading of a series they watch again sets it again).
        Subjects of no known series are left as they are: nothing tells they are out."""
        absent = [r for r in map(self._rules.get, rule_ids) if isinstance(r, AbsenceRule)]
        if not absent:
            return
        seen: set[StateKey] = set()
        kept: set[StateKey] = set()
        for series in known:
            for rule in absent:
                key = (rule.id, subject_of(rule, series))
                seen.add(key)
                if watches(rule, series):
                    kept.add(key)
        for key in seen - kept:
            state = self._states.get(key)
            if state is not None and not state.level and state.limit_ms is not None:
                state.limit_ms = None
                self._dirty.add(key)

    def relimit(self, series: Series) -> None:
        """Apply the silence limits of ``series`` (its interval or its gateway's changed)
        to its absence states now, not at its next reading."""
        for binding in self.bindings(series):
            limit = binding.limit_ms
            if binding.condition is None and limit is not None and binding.state.limit_ms != limit:
                binding.state.limit_ms = limit
                self._dirty.add(binding.key)

    def open_alarms(self) -> dict[str, int]:
        """``rule_id|subject`` -> level of every open alarm."""
        return {f"{r}|{s}": state.level for (r, s), state in self._states.items() if state.level}

    def take_dirty(self) -> set[str]:
        """Keys (``rule_id|subject``) of the states whose alarm changed since the last call:
        level, a pending level, cause or silence limit. Save :meth:`states_of` them with
        the step; they leave :meth:`take_touched` too (saved whole)."""
        dirty, self._dirty = self._dirty, set()
        self._touched -= dirty
        return {f"{r}|{s}" for r, s in dirty}

    def take_touched(self) -> set[str]:
        """Keys of every state changed since the last call, a window or the time of the
        newest reading included: a checkpoint saves :meth:`states_of` them. A quiet state
        (:attr:`RuleState.quiet`) that stayed quiet is left out: only the time of its
        newest reading changed, which tells a late reading from a new one after a restart."""
        touched = self._touched | self._dirty
        self._touched, self._dirty = set(), set()
        return {f"{r}|{s}" for r, s in touched}

    def states_of(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The states of ``keys`` (``rule_id|subject``), JSON-ready; unknown keys left out."""
        out = {}
        for key in keys:
            rule_id, _, subject = key.partition("|")
            state = self._states.get((rule_id, subject))
            if state is not None:
                out[key] = state.to_dict()
        return out

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every state that holds something, JSON-ready, keyed ``rule_id|subject``."""
        return {
            f"{r}|{s}": state.to_dict()
            for (r, s), state in self._states.items()
            if state.last_ms is not None or not state.quiet or state.limit_ms is not None
        }

    def _candidates(self, tenant: str, site: str | None) -> list[Rule]:
        """The tenant's rules without a site scope, and those scoped to ``site``."""
        wide = self._wide.get(tenant, [])
        return wide + self._by_site.get((tenant, site), []) if site is not None else wide

    def _judge(self, binding: Binding, sample: Sample, late: bool, out: list[Transition]) -> None:
        state = binding.state
        # a station's sensors (geohazard: gauge and meter) are told stale one by one, by
        # the condition: a meter's batch after the gauge's newer one still counts
        last = state.last_ms if binding.own else None
        if last is not None and sample.time_ms <= last:
            # stale: this subject has already been evaluated past it; or this very reading
            # again (a series has one reading per time; a station's are told apart below)
            return
        quiet_before = not state.level and state.candidate is None and not state.windows
        condition = binding.condition
        if condition is None:  # an absence binding: heard, not judged
            return
        verdict = condition(binding.rule, state, sample)
        state.last_ms = max(state.last_ms or sample.time_ms, sample.time_ms)
        if verdict is not None and (verdict.level != state.level or state.candidate is not None):
            self._debounce(binding, verdict, sample, late, out)
        if not quiet_before or state.level or state.candidate is not None or state.windows:
            # a quiet state that stays quiet changed only its newest reading's time: not
            # worth a write (it only tells a late reading from a new one after a restart)
            (self._dirty if binding.durable else self._touched).add(binding.key)

    def _debounce(
        self,
        binding: Binding,
        verdict: Verdict,
        sample: Sample,
        late: bool,
        out: list[Transition],
    ) -> None:
        state, rule = binding.state, binding.rule
        if verdict.level == state.level:
            if state.candidate is not None or state.candidate_since_ms is not None:
                state.candidate = state.candidate_since_ms = None
                self._dirty.add(binding.key)
            return
        if state.candidate != verdict.level or state.candidate_since_ms is None:
            state.candidate, state.candidate_since_ms = verdict.level, sample.time_ms
            self._dirty.add(binding.key)
        hold_s = rule.for_s if verdict.level > state.level else rule.clear_for_s
        if sample.time_ms - state.candidate_since_ms < hold_s * 1000:
            return
        previous = state.level
        state.level, state.candidate, state.candidate_since_ms = verdict.level, None, None
        kind: TransitionKind = "open" if not previous else ("level" if verdict.level else "resolve")
        state.opened_ms = sample.time_ms if kind == "open" else state.opened_ms
        if kind == "resolve":
            state.opened_ms = None
        self._dirty.add(binding.key)
        detail = verdict.detail or f"{sample.series.quantity} {sample.value:g} back to normal"
        out.append(
            self._transition(
                rule, binding.subject, kind, sample, detail=detail, late=late, label=verdict.label
            )
        )

    def _heard(self, binding: Binding, sample: Sample, late: bool, out: list[Transition]) -> None:
        state = binding.state
        # a series whose interval is not known (again, after a restart) keeps the limit
        # learnt before: its first reading must not end the watch
        if binding.limit_ms is not None and state.limit_ms != binding.limit_ms:
            state.limit_ms = binding.limit_ms
            self._dirty.add(binding.key)
        last, limit = state.last_ms, state.limit_ms
        if last is None or sample.time_ms > last:
            state.last_ms = sample.time_ms
            # saved with the step whenever it enters the next half of its silence limit, at
            # a checkpoint otherwise: after a crash the stored time is less than half the
            # limit behind, so the evaluator taking over sees no false silence
            half = max(limit // 2, 1) if limit else 0
            if last is None or (half and sample.time_ms // half != last // half):
                self._dirty.add(binding.key)
            else:
                self._touched.add(binding.key)
        if not state.level or state.cause != "silent":
            return
        state.level, state.opened_ms, state.cause = 0, None, None
        self._dirty.add(binding.key)
        detail = f"{binding.subject} delivers data again"
        out.append(
            self._transition(binding.rule, binding.subject, "resolve", sample, detail=detail,
                             late=late)
        )  # fmt: skip

    def _state(self, rule: Rule, subject: str) -> tuple[StateKey, RuleState]:
        key = (rule.id, subject)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = RuleState()
        return key, state

    @staticmethod
    def _transition(
        rule: Rule,
        subject: str,
        kind: TransitionKind,
        event: Sample | GatewayStatus,
        *,
        detail: str,
        late: bool,
        label: str = "",
    ) -> Transition:
        value = event.value if isinstance(event, Sample) else None
        level = "" if kind == "resolve" else (label or rule.severity)
        return Transition(
            rule.id, rule.tenant, subject, kind, event.time_ms, level, value, detail, late
        )


def _time_of(sample: Sample) -> int:
    return sample.time_ms
