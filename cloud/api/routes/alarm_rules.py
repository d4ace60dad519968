"""``/api/v1/alarm-rules``: alarm rules as data (list, read, create or replace, delete).

Layer: HTTP router; storage calls and an audit entry per change, no SQL. Readers
of a tenant see its rules; admins and analysts change them. A rule names its
tenant, which must be the key's own (a platform admin: any). Another tenant's
rule answers 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from cloud.alarms.rules import Rule
from cloud.api.alarm_models import RulesIn
from cloud.api.auth import ReaderDep, require
from cloud.api.deps import StorageDep
from cloud.api.params import ID_PATTERN
from cloud.api.problems import ApiProblem, error_responses
from cloud.storage import audit
from cloud.storage.alarm_rules import delete_rule, get_rule, list_rules, put_rules
from cloud.storage.keys import ApiKey

router = APIRouter(
    prefix="/api/v1/alarm-rules",
    tags=["alarms"],
    responses=error_responses(401, 403, 422, 429, 503),
)

EditorDep = Annotated[ApiKey, require("admin", "analyst")]
RuleId = Annotated[str, Path(pattern=ID_PATTERN, description="rule id")]


def _no_nul(rules: list[Rule]) -> None:
    # JSON text may carry \u0000; PostgreSQL's jsonb cannot store it
    for rule in rules:
        if "\\u0000" in rule.model_dump_json():
            raise ApiProblem(422, f"rule {rule.id!r}: text must not contain NUL characters")


@router.get("")
async def get_rules(
    key: ReaderDep,
    storage: StorageDep,
    tenant: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[Rule]:
    """The rules in the key's scope, by tenant and id."""
    return await list_rules(storage, key.scope, tenant=tenant)


@router.post("", responses=error_responses(404))
async def post_rules(body: RulesIn, key: EditorDep, storage: StorageDep) -> list[str]:
    """Create or replace rules, all or none (an import); their ids."""
    _no_nul(body.rules)
    ids = await put_rules(storage, key.scope, key.tenant, body.rules, key.actor)
    await audit.record(
        storage, key.actor, "alarm_rule.import", "rules", {"ids": ids},
        tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return ids


@router.get("/{rule_id}", responses=error_responses(404))
async def get_one(rule_id: RuleId, key: ReaderDep, storage: StorageDep) -> Rule:
    """One rule; 404 when it does not exist or is another tenant's."""
    return await get_rule(storage, key.scope, rule_id)


@router.put("/{rule_id}", responses=error_responses(404))
async def put_one(rule_id: RuleId, body: Rule, key: EditorDep, storage: StorageDep) -> Rule:
    """Create or replace one rule; its id must be the one in the path."""
    if body.id != rule_id:
        raise ApiProblem(422, f"id: the body's id {body.id!r} is not the path's {rule_id!r}")
    _no_nul([body])
    await put_rules(storage, key.scope, key.tenant, [body], key.actor)
    await audit.record(
        storage, key.actor, "alarm_rule.put", f"rule:{rule_id}", body.model_dump(mode="json"),
        tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return body


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
async def delete_one(rule_id: RuleId, key: EditorDep, storage: StorageDep) -> Response:
    """Delete a rule; its alarms stay as history (those still open are resolved)."""
    await delete_rule(storage, key.scope, rule_id, key.actor)
    await audit.record(
        storage, key.actor, "alarm_rule.delete", f"rule:{rule_id}", {},
        tenant_id=key.scope.tenant_id,
    )  # fmt: skip
    return Response(status_code=status.HTTP_204_NO_CONTENT)
