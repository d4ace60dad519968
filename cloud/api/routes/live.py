"""``GET /api/v1/live``: new readings and gateway status changes as server-sent events.

Layer: HTTP router. The series and gateways a stream may carry are resolved from
the key's scope when it opens (and again every :data:`RESCOPE_S`, so new series
join), exactly as the query routes resolve them: a key sees over the live channel
nothing it could not read through ``/api/v1/readings``. The stream then asks
storage for readings after the last one it sent (a keyset on time and series),
once per :data:`POLL_S`: the database is polled by the server once per stream,
the browser receives only what is new. A reading that arrives later than
:data:`POLL_S` with a time older than one already sent (a gateway's outbox replay)
is not pushed; the pages show it when they next load the window.

Events: ``reading`` (one reading, as in ``/api/v1/readings``), ``status`` (a
gateway's presence or newest batch changed), and a comment every
:data:`HEARTBEAT_S` to keep proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import ID_PATTERN, MAX_DB_ID
from cloud.api.reading_models import ReadingRow
from cloud.api.scoping import resolve
from cloud.schemas import iso_utc_or_none
from cloud.storage import queries
from cloud.storage.access import SeriesFilter, VisibleSeries, visible_gateways
from cloud.storage.keys import ApiKey
from cloud.storage.store import Storage

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

POLL_S = 1.0
RESCOPE_S = 30.0
HEARTBEAT_S = 15.0
BACKLOG = timedelta(seconds=10)  # readings this old when the stream opens are sent too
PAGE_ROWS = 2000
FAR = timedelta(days=1)  # readings stamped up to a day ahead (a gateway's fast clock) pass


@router.get(
    "/live",
    summary="Server-sent events: new readings and gateway status in scope",
    include_in_schema=False,  # an endless stream: generated API tests could never finish one
)
async def get_live(
    *,
    request: Request,
    key: ReaderDep,
    storage: StorageDep,
    station: Annotated[int | None, Query(ge=1, le=MAX_DB_ID, description="one station")] = None,
    gateway: Annotated[str | None, Query(pattern=ID_PATTERN, description="one gateway")] = None,
    readings: Annotated[bool, Query(description="false: status events only")] = True,
) -> StreamingResponse:
    """A stream of ``reading`` and ``status`` events; 404 for a station or gateway out of scope."""
    query = SeriesFilter(site_id=station, gateway=gateway)
    series = await resolve(storage, key, query)
    stream = _Stream(storage, key, query, series, send_readings=readings)
    return StreamingResponse(
        stream.events(request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def sse(event: str, data: object) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class _Stream:
    """The state of one open stream: what it may send, and what it sent last."""

    def __init__(
        self,
        storage: Storage,
        key: ApiKey,
        query: SeriesFilter,
        series: list[VisibleSeries],
        *,
        send_readings: bool,
    ) -> None:
        self._send_readings = send_readings
        self._storage = storage
        self._key = key
        self._query = query
        self._series = series
        self._after: tuple[datetime, int] | None = None
        self._since = datetime.now(UTC) - BACKLOG
        self._gateways: dict[str, tuple[str | None, str | None, str | None]] = {}

    async def events(self, request: Request) -> AsyncIterator[str]:
        """Events until the client goes away."""
        loop = asyncio.get_running_loop()
        rescoped = beat = loop.time()
        yield "retry: 3000\n\n"
        while not await request.is_disconnected():
            now = loop.time()
            if now - rescoped >= RESCOPE_S:
                self._series = await resolve(self._storage, self._key, self._query)
                rescoped = now
            for event in await self._status():
                yield event
            for event in await self._readings():
                yield event
            if now - beat >= HEARTBEAT_S:
                yield ": keep-alive\n\n"
                beat = now
            await asyncio.sleep(POLL_S)

    async def _readings(self) -> list[str]:
        if not self._send_readings:
            return []
        rows, _ = await queries.page(
            self._storage,
            self._series,
            self._since,
            datetime.now(UTC) + FAR,
            limit=PAGE_ROWS,
            after=self._after,
        )
        if rows:
            self._after = (rows[-1].time, rows[-1].series_id)
        by_id = {s.id: s for s in self._series}
        return [
            sse("reading", ReadingRow.of(r, by_id[r.series_id]).model_dump())
            for r in rows
            if r.series_id in by_id
        ]

    async def _status(self) -> list[str]:
        mine = {s.gateway for s in self._series}
        if self._query.gateway:
            mine.add(self._query.gateway)
        visible = set(await visible_gateways(self._storage, self._key.scope))
        out = []
        for g in await self._storage.list_gateways():
            if g.id not in visible or (
                (self._query.site_id or self._query.gateway) and g.id not in mine
            ):
                continue
            state = (g.presence, iso_utc_or_none(g.presence_at), iso_utc_or_none(g.last_batch_at))
            if self._gateways.get(g.id) != state:
                self._gateways[g.id] = state
                presence, presence_at, last_batch_at = state
                out.append(
                    sse(
                        "status",
                        {
                            "gateway": g.id,
                            "site": g.site,
                            "presence": presence,
                            "presence_at": presence_at,
                            "last_batch_at": last_batch_at,
                        },
                    )
                )
        return out
