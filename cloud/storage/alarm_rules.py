"""Alarm rules as stored: one row per rule, its validated body as JSON, per tenant.

Layer: storage. Rules are validated by :mod:`cloud.alarms.rules` before they get
here and again when read back. A key sees and changes only its own tenant's rules
(a platform admin: every tenant's); another tenant's rule answers as not found.
Rule ids are unique across the platform, because the evaluator keys state by them.
Rules that name an unknown tenant, a station or gateway that is not their tenant's, or
a quantity outside the vocabulary are refused whole (they would never fire). No HTTP here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from cloud.alarms.errors import RuleRefusedError
from cloud.alarms.rule_refs import RuleProblem, references, unknown_quantities
from cloud.alarms.rules import Rule
from cloud.errors import InvalidValueError, NotFoundError
from cloud.storage.access import Scope
from cloud.storage.alarm_eval import hold_evaluation
from cloud.storage.store import Storage
from device_profiles import load_quantities

RULE: TypeAdapter[Rule] = TypeAdapter(Rule)

_IN_SCOPE = "(%(k_all)s OR r.tenant_id = %(k_tenant)s)"

_LIST = f"""
SELECT r.body FROM alarm_rules r JOIN tenants t ON t.id = r.tenant_id
WHERE {_IN_SCOPE} AND (%(id)s::text IS NULL OR r.id = %(id)s::text)
  AND (%(tenant)s::text IS NULL OR t.name = %(tenant)s::text)
ORDER BY t.name, r.id
"""  # noqa: S608 - composed of this module's constants only

_UPSERT = """
INSERT INTO alarm_rules (id, tenant_id, kind, body, enabled)
SELECT %(id)s, t.id, %(kind)s, %(body)s, %(enabled)s FROM tenants t WHERE t.name = %(tenant)s
ON CONFLICT (id) DO UPDATE
    SET kind = excluded.kind, body = excluded.body, enabled = excluded.enabled,
        updated_at = now()
    WHERE alarm_rules.tenant_id = excluded.tenant_id
RETURNING id
"""

_OWNER = """SELECT t.name FROM alarm_rules r JOIN tenants t ON t.id = r.tenant_id
WHERE r.id = %(id)s"""

_DELETE = f"DELETE FROM alarm_rules r WHERE r.id = %(id)s AND {_IN_SCOPE} RETURNING r.id"  # noqa: S608

# a deleted or disabled rule's alarms left unresolved would stay open (and escalate)
# for ever; so would those of a rule that became another kind (its old state is void)
_CLOSE_ALARMS = """
WITH closed AS (
    UPDATE alarms SET state = 'resolved', resolved_at = now(), resolved_by = %(actor)s,
        resolve_comment = %(why)s
    WHERE rule_id = %(id)s AND state <> 'resolved'
    RETURNING id, level
)
INSERT INTO alarm_events (alarm_id, kind, at, level, actor, comment)
SELECT id, 'close', now(), level, %(actor)s, %(why)s FROM closed
"""

_PREVIOUS = "SELECT id, kind, enabled FROM alarm_rules WHERE id = ANY(%(ids)s)"

# under the evaluation lock (cloud.storage.alarm_eval.hold_evaluation), taken before
# anything else: no step saves the rule's old states after they are forgotten, and the
# lock order is the steps' own
_FORGET_STATES = "DELETE FROM alarm_states WHERE split_part(key, '|', 1) = %(id)s"

_KNOWN = """
SELECT t.name, 'tenant', t.name FROM tenants t WHERE t.name = ANY(%(tenants)s)
UNION ALL
SELECT t.name, 'site', s.name FROM sites s JOIN tenants t ON t.id = s.tenant_id
WHERE t.name = ANY(%(tenants)s) AND s.name = ANY(%(sites)s)
UNION ALL
SELECT t.name, 'gateway', g.id FROM gateways g JOIN tenants t ON t.id = g.tenant_id
WHERE t.name = ANY(%(tenants)s) AND g.id = ANY(%(gateways)s)
"""

_ALL_ENABLED = "SELECT body FROM alarm_rules WHERE enabled ORDER BY id"


def _check_tenant(scope: Scope, own_tenant: str | None, rule: Rule) -> None:
    if scope.tenant_id is not None and rule.tenant != own_tenant:
        raise InvalidValueError(
            f"rule {rule.id!r}: tenant must be {own_tenant!r}, the tenant of this key"
        )


async def put_rules(
    storage: Storage,
    scope: Scope,
    own_tenant: str | None,
    rules: Iterable[Rule],
    actor: str = "rule changed",
) -> list[str]:
    """Create or replace rules (all or none); their ids.

    A rule disabled, or replaced by one of another kind, has its open alarms resolved
    by ``actor`` (with the reason) and its evaluation state forgotten: a rule enabled
    again, or of its new kind, starts from nothing.

    Raises:
        RuleRefusedError: a rule of an unknown tenant, or naming a station or gateway
            that is not its tenant's, or an unknown quantity (each with its key).
        InvalidValueError: a rule of another tenant than the key's, or an id taken by
            another tenant's rule.
    """
    rules = list(rules)
    for rule in rules:
        _check_tenant(scope, own_tenant, rule)
    async with storage.connection("storing alarm rules") as conn:
        problems = await _unknown_names(conn, rules)
        if problems:
            raise RuleRefusedError(problems)
        cursor = await conn.execute(_PREVIOUS, {"ids": [r.id for r in rules]})
        stored = {row[0]: row[1:] for row in await cursor.fetchall()}
        befores = [stored.get(rule.id) for rule in rules]
        if any(_ended(before, rule) for before, rule in zip(befores, rules, strict=True)):
            # first: the rules' trigger then updates the evaluator's row, as a step does
            # after taking this lock (the other order deadlocks with a step)
            await hold_evaluation(conn)
        for rule, before in zip(rules, befores, strict=True):
            body = rule.model_dump(mode="json")
            cursor = await conn.execute(
                _UPSERT,
                {
                    "id": rule.id,
                    "tenant": rule.tenant,
                    "kind": rule.kind,
                    "body": Jsonb(body),
                    "enabled": rule.enabled,
                },
            )
            if await cursor.fetchone() is None:
                owner = await (await conn.execute(_OWNER, {"id": rule.id})).fetchone()
                if owner is None:
                    raise InvalidValueError(f"rule {rule.id!r}: no tenant {rule.tenant!r}")
                raise InvalidValueError(f"rule id {rule.id!r} is taken; choose another id")
            why = _ended(before, rule)
            if why:
                await conn.execute(_FORGET_STATES, {"id": rule.id})
                await conn.execute(_CLOSE_ALARMS, {"id": rule.id, "actor": actor, "why": why})
    return [rule.id for rule in rules]


def _ended(before: tuple[Any, ...] | None, rule: Rule) -> str | None:
    """Why a stored rule's alarms and state end with ``rule`` replacing it, if they do."""
    if before is None:
        return None
    kind, enabled = before
    if kind != rule.kind:
        return f"its rule became a {rule.kind} rule"
    if enabled and not rule.enabled:
        return "its rule was disabled"
    return None


async def _unknown_names(conn: AsyncConnection[Any], rules: list[Rule]) -> list[RuleProblem]:
    problems = unknown_quantities(rules, load_quantities())
    refs = [(i, rule, ref) for i, rule in enumerate(rules) for ref in references(rule)]
    params = {
        "tenants": sorted({rule.tenant for rule in rules}),
        "sites": sorted({name for _, _, (_, kind, name) in refs if kind == "site"}),
        "gateways": sorted({name for _, _, (_, kind, name) in refs if kind == "gateway"}),
    }
    cursor = await conn.execute(_KNOWN, params)
    known = {(tenant, kind, name) for tenant, kind, name in await cursor.fetchall()}
    for index, rule in enumerate(rules):
        if (rule.tenant, "tenant", rule.tenant) not in known:
            problems.append(RuleProblem(index, rule.id, ("tenant",), f"no tenant {rule.tenant!r}"))
    for index, rule, (loc, kind, name) in refs:
        if kind == "quantity" or (rule.tenant, "tenant", rule.tenant) not in known:
            continue
        if (rule.tenant, kind, name) not in known:
            what = "station" if kind == "site" else kind
            problems.append(
                RuleProblem(index, rule.id, loc, f"no {what} {name!r} in tenant {rule.tenant!r}")
            )
    return sorted(problems, key=lambda p: (p.index, [str(part) for part in p.loc]))


async def list_rules(
    storage: Storage, scope: Scope, *, rule_id: str | None = None, tenant: str | None = None
) -> list[Rule]:
    """The rules in scope (every rule of the key's tenant), by tenant and id."""
    params: dict[str, Any] = scope.params() | {"id": rule_id, "tenant": tenant}
    async with storage.connection("listing alarm rules") as conn:
        cursor = await conn.execute(_LIST, params)
        return [RULE.validate_python(body) for (body,) in await cursor.fetchall()]


async def get_rule(storage: Storage, scope: Scope, rule_id: str) -> Rule:
    """One rule in scope.

    Raises:
        NotFoundError: no such rule, or another tenant's.
    """
    found = await list_rules(storage, scope, rule_id=rule_id)
    if not found:
        raise NotFoundError("rule", rule_id)
    return found[0]


async def delete_rule(
    storage: Storage, scope: Scope, rule_id: str, actor: str = "rule deleted"
) -> None:
    """Delete a rule; its alarms stay, as history, those still open resolved by ``actor``.

    Raises:
        NotFoundError: no such rule, or another tenant's.
    """
    async with storage.connection("deleting an alarm rule") as conn:
        # the lock first, as a step takes it (see put_rules)
        await hold_evaluation(conn)
        cursor = await conn.execute(_DELETE, scope.params() | {"id": rule_id})
        if await cursor.fetchone() is None:
            raise NotFoundError("rule", rule_id)
        await conn.execute(_FORGET_STATES, {"id": rule_id})  # an id used again starts afresh
        await conn.execute(
            _CLOSE_ALARMS, {"id": rule_id, "actor": actor, "why": "its rule was deleted"}
        )


async def enabled_rules(storage: Storage) -> list[Rule]:
    """Every enabled rule of every tenant: what the evaluator runs."""
    async with storage.connection("loading alarm rules") as conn:
        cursor = await conn.execute(_ALL_ENABLED)
        return [RULE.validate_python(body) for (body,) in await cursor.fetchall()]
