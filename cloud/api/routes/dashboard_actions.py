"""``POST /dashboard/alarms/{id}/ack|resolve``: the dashboard's alarm actions, with its cookie.

Layer: HTTP router; storage calls, no SQL. The API's own ``POST /api/v1/alarms/...``
take only a Bearer key: the login cookie authenticates safe methods only (see
:mod:`cloud.api.auth`), so that another site cannot make a browser act. These two
routes accept the cookie for a change, and stay safe against cross-site requests
by demanding the ``X-Shanshui-Dashboard`` header and a JSON body: a form on another
site can send neither, and a script there cannot without a CORS preflight that this
server never grants. The cookie is SameSite=Strict besides.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status

from cloud.api.alarm_models import AckIn, AlarmOut, ResolveIn
from cloud.api.auth import COOKIE_NAME
from cloud.api.deps import StorageDep
from cloud.api.params import MAX_DB_ID
from cloud.api.problems import ApiProblem
from cloud.storage.alarms import acknowledge, resolve
from cloud.storage.keys import ApiKey, authenticate

router = APIRouter(prefix="/dashboard", tags=["dashboard"], include_in_schema=False)

CSRF_HEADER = "X-Shanshui-Dashboard"
ACTING_ROLES = ("admin", "analyst", "technician")
AlarmId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="alarm id")]


async def cookie_key(request: Request, storage: StorageDep) -> ApiKey:
    """The signed-in key of a dashboard action; 403 without the header, 401 without a key."""
    if request.headers.get(CSRF_HEADER) != "1" or not request.headers.get(
        "content-type", ""
    ).startswith("application/json"):
        raise ApiProblem(status.HTTP_403_FORBIDDEN, f"dashboard actions need {CSRF_HEADER}: 1")
    token = request.cookies.get(COOKIE_NAME)
    key = await authenticate(storage, token) if token else None
    if key is None:
        raise ApiProblem(status.HTTP_401_UNAUTHORIZED, "sign in at /login")
    if key.role not in ACTING_ROLES:
        raise ApiProblem(
            status.HTTP_403_FORBIDDEN, f"a {key.role} key may read alarms but not act on them"
        )
    return key


CookieKeyDep = Annotated[ApiKey, Depends(cookie_key)]


@router.post("/alarms/{alarm_id}/ack")
async def ack(alarm_id: AlarmId, body: AckIn, key: CookieKeyDep, storage: StorageDep) -> AlarmOut:
    """Acknowledge an alarm in the key's scope (404 outside it)."""
    return AlarmOut.of(await acknowledge(storage, key.scope, alarm_id, key.actor, body.comment))


@router.post("/alarms/{alarm_id}/resolve")
async def close(
    alarm_id: AlarmId, body: ResolveIn, key: CookieKeyDep, storage: StorageDep
) -> AlarmOut:
    """Resolve an alarm in the key's scope by hand, with a comment."""
    return AlarmOut.of(await resolve(storage, key.scope, alarm_id, key.actor, body.comment))
