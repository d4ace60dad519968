"""``/api/v1/alarms``: list, read, acknowledge and resolve alarms; history per station.

Layer: HTTP router; storage calls, no SQL. Scoped like readings: a key sees the
alarms of its own tenant (narrowed to its regions, stations, gateways); any other
alarm answers 404, for acknowledging too. Readers list; admins, analysts and
technicians acknowledge and resolve.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from cloud.alarms.rules import Severity
from cloud.api.alarm_models import AckIn, AlarmEventOut, AlarmOut, ResolveIn
from cloud.api.auth import OperatorDep, ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import ID_PATTERN, MAX_DB_ID, IsoTime, decode_cursor, encode_cursor
from cloud.api.problems import ApiProblem, error_responses
from cloud.errors import NotFoundError
from cloud.storage.alarms import (
    Alarm,
    AlarmFilter,
    AlarmState,
    acknowledge,
    alarm_history,
    get_alarm,
    list_alarms,
    resolve,
)
from cloud.storage.sites import list_sites

router = APIRouter(tags=["alarms"], responses=error_responses(401, 403, 422, 429, 503))

AlarmId = Annotated[int, Path(ge=1, le=MAX_DB_ID, description="alarm id")]
MAX_LIMIT = 1000
NEXT_CURSOR = "X-Next-Cursor"
SinceQ = Annotated[IsoTime | None, Query(description="opened at or after (ISO 8601 with offset)")]
UntilQ = Annotated[IsoTime | None, Query(description="opened before (ISO 8601 with offset)")]
CursorQ = Annotated[
    str | None,
    Query(max_length=200, description=f"the {NEXT_CURSOR} header of the previous page"),
]
_PAGED: dict[int | str, dict[str, Any]] = {
    200: {
        "headers": {
            NEXT_CURSOR: {
                "description": "present when the page is full: pass it as cursor for the next",
                "schema": {"type": "string"},
            }
        }
    }
}


def _before(cursor: str | None) -> tuple[datetime, int] | None:
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor, "desc")
    except ValueError as exc:
        raise ApiProblem(422, f"cursor: {exc}") from None


def _page(response: Response, alarms: list[Alarm], limit: int) -> list[AlarmOut]:
    if len(alarms) == limit:
        last = alarms[-1]
        response.headers[NEXT_CURSOR] = encode_cursor("desc", last.opened_at, last.id)
    return [AlarmOut.of(a) for a in alarms]


@router.get("/api/v1/alarms", responses=_PAGED)
async def get_alarms(
    *,
    key: ReaderDep,
    storage: StorageDep,
    response: Response,
    state: Annotated[list[AlarmState] | None, Query(max_length=3)] = None,
    severity: Annotated[list[Severity] | None, Query(max_length=3)] = None,
    station: Annotated[int | None, Query(ge=1, le=MAX_DB_ID, description="site id")] = None,
    gateway: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    rule: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: CursorQ = None,
) -> list[AlarmOut]:
    """Alarms in the key's scope, newest first (``state=open&state=acknowledged``: active).

    A full page carries an ``X-Next-Cursor`` header: pass it as ``cursor`` for the next.
    """
    query = AlarmFilter(
        tuple(state or ()), station, gateway, rule, since, until, limit,
        severities=tuple(severity or ()), before=_before(cursor),
    )  # fmt: skip
    return _page(response, await list_alarms(storage, key.scope, query), limit)


@router.get("/api/v1/alarms/{alarm_id}", responses=error_responses(404))
async def get_one(alarm_id: AlarmId, key: ReaderDep, storage: StorageDep) -> AlarmOut:
    """One alarm; 404 when it does not exist or lies outside the key's scope."""
    return AlarmOut.of(await get_alarm(storage, key.scope, alarm_id))


@router.get("/api/v1/alarms/{alarm_id}/events", responses=error_responses(404))
async def get_events(alarm_id: AlarmId, key: ReaderDep, storage: StorageDep) -> list[AlarmEventOut]:
    """The alarm's history: transitions, acknowledgement, resolution, escalation."""
    return [AlarmEventOut.of(e) for e in await alarm_history(storage, key.scope, alarm_id)]


@router.post("/api/v1/alarms/{alarm_id}/ack", responses=error_responses(404))
async def post_ack(
    alarm_id: AlarmId, body: AckIn, key: OperatorDep, storage: StorageDep
) -> AlarmOut:
    """Acknowledge an open alarm (acknowledging again changes nothing)."""
    return AlarmOut.of(await acknowledge(storage, key.scope, alarm_id, key.actor, body.comment))


@router.post("/api/v1/alarms/{alarm_id}/resolve", responses=error_responses(404))
async def post_resolve(
    alarm_id: AlarmId, body: ResolveIn, key: OperatorDep, storage: StorageDep
) -> AlarmOut:
    """Resolve an alarm by hand, with a comment."""
    return AlarmOut.of(await resolve(storage, key.scope, alarm_id, key.actor, body.comment))


@router.get("/api/v1/sites/{site_id}/alarms", responses=error_responses(404) | _PAGED)
async def get_station_alarms(
    *,
    site_id: Annotated[int, Path(ge=1, le=MAX_DB_ID, description="site (station) id")],
    key: ReaderDep,
    storage: StorageDep,
    response: Response,
    since: SinceQ = None,
    until: UntilQ = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    cursor: CursorQ = None,
) -> list[AlarmOut]:
    """A station's alarm history, any state, newest first (paged like ``/alarms``)."""
    if not await list_sites(storage, key.scope, site_id=site_id):
        raise NotFoundError("site", site_id)
    query = AlarmFilter(
        site_id=site_id, since=since, until=until, limit=limit, before=_before(cursor)
    )
    return _page(response, await list_alarms(storage, key.scope, query), limit)
