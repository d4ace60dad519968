"""``GET /api/v1/sites/{site_id}/rule-limits``: the thresholds of alarm rules watching a station.

Layer: HTTP router; storage calls within the key's scope, no SQL. The dashboard
draws these on a station's charts beside the standards' limits. A threshold rule
counts when it is enabled, is one the key may read (its department's, every one
for a platform admin) and watches at least one series of the station, decided by
the same predicate the evaluator uses (:func:`cloud.alarms.scope.watches`). A
station outside the scope answers 404.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from cloud.alarms.events import Series
from cloud.alarms.rules import ThresholdRule
from cloud.alarms.scope import watches
from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.api.scoping import resolve
from cloud.errors import NotFoundError
from cloud.storage.access import SeriesFilter
from cloud.storage.alarm_rules import list_rules
from cloud.storage.sites import list_sites

router = APIRouter(
    prefix="/api/v1/sites", tags=["alarms"], responses=error_responses(401, 403, 422, 429, 503)
)

SiteId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="site (station) id")]


class RuleLimitOut(BaseModel):
    """One threshold of a rule, on one quantity of the station."""

    rule: str = Field(description="the rule's id")
    name: str = Field(description="the rule's name (may be empty)")
    quantity: str
    direction: Literal["above", "below"] = Field(description="the alarm opens beyond it")
    value: float
    clear: float | None = Field(description="where the alarm clears (hysteresis), if set")
    severity: str


@router.get("/{site_id}/rule-limits", responses=error_responses(404))
async def get_rule_limits(
    site_id: SiteId, key: ReaderDep, storage: StorageDep
) -> list[RuleLimitOut]:
    """Thresholds of enabled rules watching the station's series, by quantity and rule."""
    sites = await list_sites(storage, key.scope, site_id=site_id)
    if not sites:
        raise NotFoundError("station", site_id)
    region = sites[0].attributes.region_code
    series = await resolve(storage, key, SeriesFilter(site_id=site_id))
    every = await list_rules(storage, key.scope)
    rules = [r for r in every if isinstance(r, ThresholdRule) and r.enabled]
    found: dict[tuple[str, str], RuleLimitOut] = {}
    for one in series:
        watched = Series(one.tenant, one.gateway, one.device, one.quantity, one.site, region)
        for rule in rules:
            if (one.quantity, rule.id) in found or not watches(rule, watched):
                continue
            above = rule.above is not None
            value = rule.above if rule.above is not None else rule.below
            found[(one.quantity, rule.id)] = RuleLimitOut(
                rule=rule.id,
                name=rule.name,
                quantity=one.quantity,
                direction="above" if above else "below",
                value=value,
                clear=rule.clear,
                severity=rule.severity,
            )
    return [found[k] for k in sorted(found)]
