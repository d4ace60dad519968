"""The alarm evaluator: readings in time order in, alarm transitions out.

Layer: pure state machine; no I/O, no clock (time comes in with every call).
The ingest path feeds each committed batch, the operator's process calls
:meth:`Evaluator.tick` now and then for silence, and storage persists
:meth:`Evaluator.snapshot` so that a restart neither re-fires nor forgets.

Per rule and subject (a series, a station, a gateway) the evaluator keeps a
:class:`cloud.alarms.state.RuleState`. A condition must hold ``for_s`` seconds
(of data time) before an alarm opens or changes level, and be gone
``clear_for_s`` seconds before it resolves. Readings older than the newest one
already evaluated for a subject are stale and skipped, so a replayed batch
changes nothing. Transitions caused by readings measured more than
``late_after_s`` before they were evaluated (backfill after an outage) are
marked ``late``: record them, do not notify.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from cloud.alarms import conditions
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
Condition = Callable[[Any, RuleState, Sample], Verdict | None]
_CONDITIONS: dict[type, Condition] = {
    ThresholdRule: conditions.threshold,
    RateRule: conditions.rate,
    AqiRule: conditions.aqi,
    WaterClassRule: conditions.water_class,
    NoiseRule: conditions.noise,
    GeohazardRule: conditions.geohazard,
}


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
        self._states: dict[tuple[str, str], RuleState] = {}
        self._dirty: set[tuple[str, str]] = set()  # states touched since take_dirty()
        self._watching: dict[Series, list[Rule]] = {}
        for key, data in (snapshot or {}).items():
            rule_id, _, subject = key.partition("|")
            if rule_id in self._rules:
                self._states[rule_id, subject] = RuleState.from_dict(dict(data))

    def feed(self, samples: Iterable[Sample], now_ms: int) -> list[Transition]:
        """Evaluate readings (sorted here by time) against every rule that watches them."""
        out: list[Transition] = []
        for sample in sorted(samples, key=lambda s: s.time_ms):
            late = now_ms - sample.time_ms > self._late_after_ms
            for rule in self._watchers(sample.series):
                out.extend(self._evaluate(rule, sample, late))
        return out

    def _watchers(self, series: Series) -> list[Rule]:
        """The rules that watch ``series``, remembered per series (rules are fixed)."""
        found = self._watching.get(series)
        if found is None:
            candidates = self._candidates(series.tenant, series.site)
            found = [rule for rule in candidates if watches(rule, series)]
            self._watching[series] = found
        return found

    def status(self, status: GatewayStatus, now_ms: int) -> list[Transition]:
        """A gateway's presence: offline opens its gateway absence alarms, online resolves them."""
        out: list[Transition] = []
        late = now_ms - status.time_ms > self._late_after_ms
        for rule in self._candidates(status.tenant, status.site):
            if not (isinstance(rule, AbsenceRule) and rule.target == "gateway"):
                continue
            if not watches_gateway(rule, status):
                continue
            state = self._state(rule, status.gateway)
            if not status.online and not state.level:
                state.level, state.opened_ms, state.cause = 1, status.time_ms, "offline"
                detail = f"gateway {status.gateway} reports offline"
                out.append(
                    self._transition(rule, status.gateway, "open", status, detail=detail, late=late)
                )
            elif status.online and state.level and state.cause == "offline":
                state.level, state.opened_ms, state.cause = 0, None, None
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
                state = self._state(rule, _absence_subject(rule, series))
                state.limit_ms = _silence_limit_ms(rule, series)
                if state.last_ms is None:
                    state.last_ms = since_ms

    def open_alarms(self) -> dict[str, int]:
        """``rule_id|subject`` -> level of every open alarm."""
        return {f"{r}|{s}": state.level for (r, s), state in self._states.items() if state.level}

    def take_dirty(self) -> set[str]:
        """Keys (``rule_id|subject``) of the states changed since the last call.

        Storage saves :meth:`states_of` these instead of the whole :meth:`snapshot`. A
        quiet state (:attr:`RuleState.quiet`) that stayed quiet is left out: only the time
        of its newest reading changed.
        """
        dirty, self._dirty = self._dirty, set()
        return {f"{r}|{s}" for r, s in dirty}

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
        """Every state, JSON-ready, keyed ``rule_id|subject``."""
        return {f"{r}|{s}": state.to_dict() for (r, s), state in self._states.items()}

    def _candidates(self, tenant: str, site: str | None) -> list[Rule]:
        """The tenant's rules without a site scope, and those scoped to ``site``."""
        wide = self._wide.get(tenant, [])
        return wide + self._by_site.get((tenant, site), []) if site is not None else wide

    def _evaluate(self, rule: Rule, sample: Sample, late: bool) -> list[Transition]:
        if isinstance(rule, AbsenceRule):
            return self._heard(rule, sample, late)
        subject = sample.series.station if isinstance(rule, GeohazardRule) else sample.series.key
        state = self._state(rule, subject, touch=False)
        # a station's sensors are told stale one by one, by conditions.geohazard
        newest = None if isinstance(rule, GeohazardRule) else state.last_ms
        if newest is not None and (
            sample.time_ms < newest or (sample.time_ms == newest and subject == sample.series.key)
        ):
            # stale: this subject has already been evaluated past it; or this very reading
            # again (a series has one reading per time; a station's are told apart below)
            return []
        was_quiet = state.quiet
        verdict = _CONDITIONS[type(rule)](rule, state, sample)
        state.last_ms = max(state.last_ms or sample.time_ms, sample.time_ms)
        out = [] if verdict is None else self._debounce(rule, subject, state, verdict,
                                                         sample=sample, late=late)  # fmt: skip
        if not (was_quiet and state.quiet):
            # a quiet state that stays quiet changed only its newest reading's time: not
            # worth a write (it only tells a late reading from a new one after a restart)
            self._dirty.add((rule.id, subject))
        return out

    def _debounce(
        self,
        rule: Rule,
        subject: str,
        state: RuleState,
        verdict: Verdict,
        *,
        sample: Sample,
        late: bool,
    ) -> list[Transition]:
        if verdict.level == state.level:
            state.candidate = state.candidate_since_ms = None
            return []
        if state.candidate != verdict.level or state.candidate_since_ms is None:
            state.candidate, state.candidate_since_ms = verdict.level, sample.time_ms
        hold_s = rule.for_s if verdict.level > state.level else rule.clear_for_s
        if sample.time_ms - state.candidate_since_ms < hold_s * 1000:
            return []
        previous = state.level
        state.level, state.candidate, state.candidate_since_ms = verdict.level, None, None
        kind: TransitionKind = "open" if not previous else ("level" if verdict.level else "resolve")
        state.opened_ms = sample.time_ms if kind == "open" else state.opened_ms
        if kind == "resolve":
            state.opened_ms = None
        detail = verdict.detail or f"{sample.series.quantity} {sample.value:g} back to normal"
        return [
            self._transition(
                rule, subject, kind, sample, detail=detail, late=late, label=verdict.label
            )
        ]

    def _heard(self, rule: AbsenceRule, sample: Sample, late: bool) -> list[Transition]:
        subject = _absence_subject(rule, sample.series)
        state = self._state(rule, subject)
        state.limit_ms = _silence_limit_ms(rule, sample.series)
        state.last_ms = max(state.last_ms or sample.time_ms, sample.time_ms)
        if not state.level or state.cause != "silent":
            return []
        state.level, state.opened_ms, state.cause = 0, None, None
        detail = f"{subject} delivers data again"
        return [self._transition(rule, subject, "resolve", sample, detail=detail, late=late)]

    def _state(self, rule: Rule, subject: str, *, touch: bool = True) -> RuleState:
        key = (rule.id, subject)
        if touch:
            self._dirty.add(key)
        state = self._states.get(key)
        if state is None:
            state = self._states[key] = RuleState()
        return state

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


def _absence_subject(rule: AbsenceRule, series: Series) -> str:
    return series.gateway if rule.target == "gateway" else series.key


def _silence_limit_ms(rule: AbsenceRule, series: Series) -> int | None:
    if rule.after_s is not None:
        return int(rule.after_s * 1000)
    if rule.multiple is not None and series.interval_s:
        return int(rule.multiple * series.interval_s * 1000)
    return None
