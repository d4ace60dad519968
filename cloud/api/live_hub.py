"""``LiveHub``: one source of new readings and gateway status per app process, fanned out.

Layer: application service under the HTTP routes (no SQL: :mod:`cloud.storage.live_feed`
and the registry). Every open ``/api/v1/live`` stream registers a :class:`Listener`;
while at least one is registered the hub polls storage once per :data:`POLL_S`, for
all of them together: the batches received since the last tick (one index probe
when nothing arrived), the readings those batches brought (after the last reading pushed of each
series, so a gateway whose batch comes late, or that sends minutes of readings at
once, still gets every reading pushed; never from more than :data:`LATE` ago: an
outbox replay of hours is not pushed), and the gateways' presence. The cursors start,
when the first listener comes, at each series' newest reading (at most
:data:`BACKLOG` ago, which is pushed). Each listener then takes what its
key may see (:meth:`Listener.offer`); the hub itself knows nothing of scopes. With
no listener left the hub stops polling.

A listener whose client does not read fast enough (more than :data:`QUEUE_EVENTS`
events waiting) is marked overflowed and its stream ends; the browser reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol

from cloud.errors import CloudError
from cloud.schemas import iso_utc_or_none
from cloud.storage import live_feed
from cloud.storage.live_feed import FeedRow
from cloud.storage.models import GatewaySummary
from cloud.storage.store import Storage

log = logging.getLogger(__name__)

POLL_S = 1.0
BACKLOG = timedelta(seconds=10)  # readings this recent are replayed to a new listener
LATE = timedelta(minutes=10)  # readings this old when they arrive are not pushed
SLACK = timedelta(seconds=30)  # a batch's received_at is its transaction's start: look back
FAR = timedelta(days=1)  # readings stamped up to a day ahead (a gateway's fast clock) pass
PER_SERIES = 500  # readings per series and tick; more wait for the next tick
MAX_BATCHES = 20_000
QUEUE_EVENTS = 20_000

GatewayState = tuple[str | None, str | None, str | None]


class Tick:
    """What one poll found, with what every listener would encode alike, encoded once.

    Attributes:
        readings: the new readings, by time then series.
        gateways: every gateway as the registry has it now.
    """

    def __init__(self, readings: Sequence[FeedRow], gateways: Sequence[GatewaySummary]) -> None:
        self.readings = readings
        self.gateways = gateways
        self._events: dict[int, str] = {}
        self._states: dict[str, GatewayState] = {}

    def reading_event(self, index: int, encode: Callable[[FeedRow], str]) -> str:
        """The event of ``readings[index]``, encoded by the first listener that sends it."""
        event = self._events.get(index)
        if event is None:
            event = self._events[index] = encode(self.readings[index])
        return event

    def state(self, gateway: GatewaySummary) -> GatewayState:
        """(presence, presence_at, last_batch_at) of ``gateway``, times as ISO 8601 UTC."""
        state = self._states.get(gateway.id)
        if state is None:
            state = self._states[gateway.id] = (
                gateway.presence,
                iso_utc_or_none(gateway.presence_at),
                iso_utc_or_none(gateway.last_batch_at),
            )
        return state


class Listener(Protocol):
    """What the hub hands each tick to."""

    def offer(self, tick: Tick) -> None:
        """Take what this listener may see (called in the event loop, must not block)."""


class LiveHub:
    """See the module docstring.

    Attributes:
        ticks: polls done since the app started.
        queries: storage queries those polls made (a few per tick, whatever the listeners).
    """

    def __init__(self, storage: Storage, *, poll_s: float = POLL_S) -> None:
        self._storage = storage
        self._poll_s = poll_s
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._seen: dict[tuple[str, int], datetime] = {}  # batches handled, until out of SLACK
        self._since: datetime | None = None
        self._cursors: dict[str, dict[int, datetime]] = {}  # gateway -> series -> last time
        self._more: set[str] = set()  # gateways with readings left over by PER_SERIES
        self._recent: deque[FeedRow] = deque()
        self._gateways: list[GatewaySummary] = []
        self._failing = False
        self.ticks = 0
        self.queries = 0

    @property
    def listeners(self) -> int:
        """How many streams are registered."""
        return len(self._listeners)

    def subscribe(self, listener: Listener) -> None:
        """Register ``listener``; it gets the last :data:`BACKLOG` of readings at once."""
        self._listeners.append(listener)
        if self._recent or self._gateways:
            listener.offer(Tick(list(self._recent), self._gateways))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live hub")

    def unsubscribe(self, listener: Listener) -> None:
        """Forget ``listener`` (idempotent); the last one out stops the polling."""
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def close(self) -> None:
        """Stop polling (the app is going down)."""
        self._listeners.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        try:
            while self._listeners:
                try:
                    await self._tick()
                except CloudError as exc:  # the database went away: streams stay open, idle
                    if not self._failing:
                        log.warning("live channel cannot read new data: %s", exc)
                    self._failing = True
                else:
                    if self._failing:
                        log.info("live channel reads new data again")
                    self._failing = False
                await asyncio.sleep(self._poll_s)
        finally:
            self._task = None
            self._reset()

    def _reset(self) -> None:
        """Start afresh with the next listener (nobody heard what passed meanwhile)."""
        self._since = None
        self._seen.clear()
        self._cursors.clear()
        self._more.clear()
        self._recent.clear()
        self._gateways = []

    async def _tick(self) -> None:
        now = datetime.now(UTC)
        if self._since is None:
            await self._start_cursors(now)
            self._since = now - BACKLOG - SLACK
        floor = now - LATE
        self.ticks += 1
        batches = await live_feed.new_batches(self._storage, self._since, MAX_BATCHES)
        self.queries += 1
        arrived = {gw for gw, seq in batches if (gw, seq) not in self._seen}
        for key in batches:
            self._seen.setdefault(key, now)
        self._since = now - SLACK
        self._seen = {k: at for k, at in self._seen.items() if at > now - 2 * SLACK}
        rows: list[FeedRow] = []
        wanted = arrived | self._more
        if wanted:
            rows = await self._readings(wanted, floor, now)
        self._gateways = await self._storage.list_gateways()
        self.queries += 1
        self._recent.extend(r for r in rows if r.time >= now - BACKLOG)
        while self._recent and self._recent[0].time < now - BACKLOG:
            self._recent.popleft()
        tick = Tick(rows, self._gateways)
        for listener in list(self._listeners):
            listener.offer(tick)

    async def _start_cursors(self, now: datetime) -> None:
        """Each series from its newest reading on, or from :data:`BACKLOG` ago if newer."""
        backlog = now - BACKLOG
        for sid, gateway, newest in await live_feed.newest_times(self._storage, now + FAR):
            self._cursors.setdefault(gateway, {})[sid] = min(newest, backlog)
        self.queries += 1

    async def _readings(self, gateways: set[str], floor: datetime, now: datetime) -> list[FeedRow]:
        cursors = {sid: at for gw in gateways for sid, at in self._cursors.get(gw, {}).items()}
        rows = await live_feed.new_readings(
            self._storage, gateways, cursors, floor=floor, until=now + FAR, per_series=PER_SERIES
        )
        self.queries += 1
        counts: dict[int, int] = {}
        self._more = set()
        for row in rows:
            self._cursors.setdefault(row.gateway, {})[row.series_id] = row.time
            counts[row.series_id] = counts.get(row.series_id, 0) + 1
            if counts[row.series_id] >= PER_SERIES:
                self._more.add(row.gateway)
        # replayed to new listeners in time order, as they arrived
        rows.sort(key=lambda r: (r.time, r.series_id))
        return rows
