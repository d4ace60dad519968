"""``GET /api/v1/live``: new readings and gateway status changes as server-sent events.

Layer: HTTP router. The series and gateways a stream may carry are resolved from
the key's scope when it opens (and again every :data:`RESCOPE_S`, so new series
join), exactly as the query routes resolve them: a key sees over the live channel
nothing it could not read through ``/api/v1/readings`` (a sharing grant's time
windows included). New data comes from the app's one :class:`LiveHub`, which polls
the database once per tick for every open stream together; each stream keeps what
its scope allows. Each series is followed from the last reading pushed, so a
gateway's late batch is pushed whole; a reading that arrives more than
:data:`cloud.api.live_hub.LATE` after it was measured, or older than one already
pushed of its series (an outbox replay), is not: the pages show it when they next
load the window.

Events: ``reading`` (one reading, as in ``/api/v1/readings``), ``status`` (a
gateway's presence or newest batch changed), and a comment every
:data:`HEARTBEAT_S` to keep proxies from closing an idle stream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.live_hub import QUEUE_EVENTS, GatewayState, LiveHub, Tick
from cloud.api.params import ID_PATTERN, MAX_DB_ID
from cloud.api.reading_models import ReadingRow
from cloud.api.scoping import resolve
from cloud.storage.access import SeriesFilter, VisibleSeries, visible_gateways
from cloud.storage.keys import ApiKey
from cloud.storage.live_feed import FeedRow
from cloud.storage.queries import Row
from cloud.storage.store import Storage

router = APIRouter(prefix="/api/v1", tags=["dashboard"])

RESCOPE_S = 30.0
HEARTBEAT_S = 15.0
WAKE_S = 1.0  # how often a quiet stream looks whether its client left


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
    stream = LiveStream(storage, key, query, send_readings=readings)
    await stream.rescope()
    hub: LiveHub = request.app.state.live_hub
    return StreamingResponse(
        stream.events(request, hub),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def sse(event: str, data: object) -> str:
    """One server-sent event."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _event(reading: FeedRow, *, series: VisibleSeries) -> str:
    """The ``reading`` event of one reading (alike for every key that may read its series)."""
    row = Row(reading.series_id, reading.time, reading.value, reading.quality, reading.mean_of)
    return sse("reading", ReadingRow.of(row, series).model_dump())


def _within(series: VisibleSeries, time: datetime) -> bool:
    """Whether ``time`` lies in one of the windows the key may read ``series`` in."""
    return any(
        (lo is None or time >= lo) and (hi is None or time < hi) for lo, hi in series.windows
    )


class LiveStream:
    """One open stream: what it may send, what it sent last, and what waits to be sent."""

    def __init__(
        self, storage: Storage, key: ApiKey, query: SeriesFilter, *, send_readings: bool
    ) -> None:
        self._send_readings = send_readings
        self._storage = storage
        self._key = key
        self._query = query
        self._series: dict[int, VisibleSeries] = {}
        self._visible: set[str] = set()
        self._mine: set[str] = set()
        self._sent: dict[str, GatewayState] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self.overflowed = False

    async def rescope(self) -> None:
        """Resolve again what the key may see (raises 404 errors when opening)."""
        series = await resolve(self._storage, self._key, self._query)
        self._series = {s.id: s for s in series}
        self._visible = set(await visible_gateways(self._storage, self._key.scope))
        self._mine = {s.gateway for s in series}
        if self._query.gateway:
            self._mine.add(self._query.gateway)

    def offer(self, tick: Tick) -> None:
        """Queue the events of what the hub found that this stream may carry."""
        events = self._status(tick)
        if self._send_readings:
            for index, r in enumerate(tick.readings):
                series = self._series.get(r.series_id)
                if series is not None and _within(series, r.time):
                    events.append(tick.reading_event(index, partial(_event, series=series)))
        if self._queue.qsize() + len(events) > QUEUE_EVENTS:
            self.overflowed = True
            return
        for event in events:
            self._queue.put_nowait(event)

    def _status(self, tick: Tick) -> list[str]:
        narrowed = self._query.site_id is not None or self._query.gateway is not None
        out = []
        for g in tick.gateways:
            if g.id not in self._visible or (narrowed and g.id not in self._mine):
                continue
            state = tick.state(g)
            if self._sent.get(g.id) != state:
                self._sent[g.id] = state
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

    async def events(self, request: Request, hub: LiveHub) -> AsyncIterator[str]:
        """Events until the client goes away (or reads too slowly to keep up)."""
        loop = asyncio.get_running_loop()
        rescoped = beat = loop.time()
        yield "retry: 3000\n\n"
        hub.subscribe(self)
        try:
            while not self.overflowed and not await request.is_disconnected():
                try:
                    async with asyncio.timeout(WAKE_S):
                        yield await self._queue.get()
                    while not self._queue.empty():
                        yield self._queue.get_nowait()
                except TimeoutError:
                    pass
                now = loop.time()
                if now - rescoped >= RESCOPE_S:
                    await self.rescope()
                    rescoped = now
                if now - beat >= HEARTBEAT_S:
                    yield ": keep-alive\n\n"
                    beat = now
        finally:
            hub.unsubscribe(self)
