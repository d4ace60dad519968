"""What a rule names outside itself: stations, gateways, quantities; and which are unknown.

Layer: pure; no I/O. A rule scoped to a misspelt station or quantity would validate
and then never fire: the bureau would believe it is watched. Storage checks the
names against the platform (:func:`cloud.storage.alarm_rules.put_rules`), the
quantities here against the vocabulary; each problem keeps the rule's index and the
key, so a rule file reports it as ``rules.yaml:12: rules[2].scope.sites[0]: …``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from cloud.alarms.rules import GeohazardRule, NoiseRule, Rule

RefKind = Literal["site", "gateway", "quantity"]
Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One unknown name in the rule at ``index`` of a set, at key ``loc`` of that rule."""

    index: int
    rule_id: str
    loc: Loc
    message: str


def references(rule: Rule) -> Iterator[tuple[Loc, RefKind, str]]:
    """Every station, gateway and quantity ``rule`` names, with the key naming it."""
    scope = rule.scope
    for i, site in enumerate(scope.sites):
        yield ("scope", "sites", i), "site", site
    for i, gateway in enumerate(scope.gateways):
        yield ("scope", "gateways", i), "gateway", gateway
    for i, quantity in enumerate(scope.quantities):
        yield ("scope", "quantities", i), "quantity", quantity
    if isinstance(rule, GeohazardRule):
        yield ("rain_quantity",), "quantity", rule.rain_quantity
        yield ("displacement_quantity",), "quantity", rule.displacement_quantity
    if isinstance(rule, NoiseRule):
        yield ("quantity",), "quantity", rule.quantity


def unknown_quantities(rules: Sequence[Rule], known: Collection[str]) -> list[RuleProblem]:
    """The quantities named that the vocabulary (quantities.yaml) does not hold."""
    return [
        RuleProblem(index, rule.id, loc, f"unknown quantity {name!r} (see quantities.yaml)")
        for index, rule in enumerate(rules)
        for loc, kind, name in references(rule)
        if kind == "quantity" and name not in known
    ]


def describe(problem: RuleProblem) -> str:
    """``rule 'a': scope.sites[0]: no station 'X' in tenant 'env'`` (API answers, logs)."""
    key = ""
    for part in problem.loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else part)
    return f"rule {problem.rule_id!r}: {key}: {problem.message}"
