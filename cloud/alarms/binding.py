"""A rule bound to one series: its subject, its state and its condition, resolved once.

Layer: plain data; no I/O. The evaluator meets every reading with each rule that
watches its series. What that meeting needs besides the reading (which state, which
condition, whether the subject is the series itself, an absence rule's silence limit)
depends only on the rule and the series, so :meth:`cloud.alarms.evaluator.Evaluator.bindings`
works it out once per series and the reading path only follows the bindings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloud.alarms.conditions import Verdict
from cloud.alarms.events import Sample, Series
from cloud.alarms.rules import AbsenceRule, GeohazardRule, Rule
from cloud.alarms.state import RuleState

Condition = Callable[[Any, RuleState, Sample], Verdict | None]


@dataclass(slots=True, eq=False)
class Binding:
    """One rule watching one series.

    ``condition`` is None for an absence rule: a reading is heard, not judged.
    ``own``: the subject is the series itself (one reading per time), not its station
    or gateway (whose series' readings may share a time).
    ``limit_ms``: an absence rule's silence limit for this series (None: not known yet).
    """

    rule: Rule
    subject: str
    key: tuple[str, str]  # (rule id, subject): the state's key
    state: RuleState
    condition: Condition | None
    own: bool
    limit_ms: int | None = None


def subject_of(rule: Rule, series: Series) -> str:
    """What a rule's state and alarm are about, for a reading of ``series``."""
    if isinstance(rule, AbsenceRule):
        return series.gateway if rule.target == "gateway" else series.key
    if isinstance(rule, GeohazardRule):
        return series.station
    return series.key


def silence_limit_ms(rule: AbsenceRule, series: Series) -> int | None:
    """How long ``series`` may be silent before ``rule`` opens an alarm (None: not yet known)."""
    if rule.after_s is not None:
        return int(rule.after_s * 1000)
    if rule.multiple is not None and series.interval_s:
        return int(rule.multiple * series.interval_s * 1000)
    return None
