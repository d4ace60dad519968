"""Which rules watch which series and gateways.

Layer: pure predicates; no I/O. A rule sees only its own tenant's data; each
non-empty scope list must contain the series' value. Regions are administrative
codes (GB/T 2260): ``330100`` (a city) contains ``330102`` (one of its districts).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cloud.alarms.events import GatewayStatus, Series
from cloud.alarms.rules import GeohazardRule, NoiseRule, Rule


def watches(rule: Rule, series: Series) -> bool:
    """Whether ``rule`` evaluates readings of ``series``."""
    scope = rule.scope
    if not _place(rule, series.tenant, series.gateway, series.site, series.region):
        return False
    if scope.devices and series.device not in scope.devices:
        return False
    if isinstance(rule, GeohazardRule):
        return series.quantity in (rule.rain_quantity, rule.displacement_quantity)
    return not scope.quantities or series.quantity in scope.quantities


@dataclass(frozen=True)
class Watched:
    """What a set of rules can watch at most: the feed reads only these readings.

    ``quantities`` None: any quantity (a rule without a quantity scope whose kind reads
    more than one, e.g. a threshold on every series of a station).
    """

    tenants: frozenset[str]
    quantities: frozenset[str] | None


def watched(rules: Iterable[Rule]) -> Watched:
    """The tenants and quantities ``rules`` watch: every series :func:`watches` accepts
    has one of these tenants and, unless ``quantities`` is None, one of these quantities."""
    tenants: set[str] = set()
    quantities: set[str] | None = set()
    for rule in rules:
        tenants.add(rule.tenant)
        if isinstance(rule, GeohazardRule):
            kind_reads = {rule.rain_quantity, rule.displacement_quantity}
        elif rule.scope.quantities:
            kind_reads = set(rule.scope.quantities)
            if isinstance(rule, NoiseRule):
                kind_reads &= {rule.quantity}
        elif isinstance(rule, NoiseRule):
            kind_reads = {rule.quantity}
        else:
            quantities = None
            continue
        if quantities is not None:
            quantities |= kind_reads
    return Watched(frozenset(tenants), None if quantities is None else frozenset(quantities))


def watches_gateway(rule: Rule, status: GatewayStatus) -> bool:
    """Whether ``rule`` (a gateway absence rule) cares about this gateway's status."""
    return _place(rule, status.tenant, status.gateway, status.site, status.region)


def region_contains(outer: str, inner: str | None) -> bool:
    """Whether region code ``outer`` is ``inner`` or contains it."""
    if inner is None:
        return False
    prefix = outer
    while len(prefix) > 2 and prefix.endswith("00"):
        prefix = prefix[:-2]
    return inner.startswith(prefix)


def _place(rule: Rule, tenant: str, gateway: str, site: str | None, region: str | None) -> bool:
    scope = rule.scope
    if rule.tenant != tenant:
        return False
    if scope.gateways and gateway not in scope.gateways:
        return False
    if scope.sites and site not in scope.sites:
        return False
    return not scope.regions or any(region_contains(r, region) for r in scope.regions)
