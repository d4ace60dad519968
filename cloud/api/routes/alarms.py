"""``/api/v1/alarms``: list, read, acknowledge and resolve alarms; history per station.

Layer: HTTP router; storage calls, no SQL. Scoped like readings: a key sees the
alarms of its own tenant (narrowed to its regions, stations, gateways); any other
alarm answers 404, for acknowledging too. Readers list; admins, analysts and
technicians acknowledge and resolve.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from cloud.api.alarm_models import AckIn, AlarmEventOut, AlarmOut, ResolveIn
from cloud.api.auth import OperatorDep, ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import ID_PATTERN, MAX_DB_ID
from cloud.api.problems import error_responses
from cloud.errors import NotFoundError
from cloud.storage.alarms import (
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


@router.get("/api/v1/alarms")
async def get_alarms(
    *,
    key: ReaderDep,
    storage: StorageDep,
    state: Annotated[list[AlarmState] | None, Query(max_length=3)] = None,
    station: Annotated[int | None, Query(ge=1, le=MAX_DB_ID, description="site id")] = None,
    gateway: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    rule: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
    since: Annotated[datetime | None, Query(description="opened at or after")] = None,
    until: Annotated[datetime | None, Query(description="opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[AlarmOut]:
    """Alarms in the key's scope, newest first (``state=open&state=acknowledged``: active)."""
    query = AlarmFilter(tuple(state or ()), station, gateway, rule, since, until, limit)
    return [AlarmOut.of(a) for a in await list_alarms(storage, key.scope, query)]


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


@router.get("/api/v1/sites/{site_id}/alarms", responses=error_responses(404))
async def get_station_alarms(
    *,
    site_id: Annotated[int, Path(ge=1, le=MAX_DB_ID, description="site (station) id")],
    key: ReaderDep,
    storage: StorageDep,
    since: Annotated[datetime | None, Query(description="opened at or after")] = None,
    until: Annotated[datetime | None, Query(description="opened before")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
) -> list[AlarmOut]:
    """A station's alarm history, any state, newest first."""
    if not await list_sites(storage, key.scope, site_id=site_id):
        raise NotFoundError("site", site_id)
    query = AlarmFilter(site_id=site_id, since=since, until=until, limit=limit)
    return [AlarmOut.of(a) for a in await list_alarms(storage, key.scope, query)]
