"""``SeriesBook``: what the alarm stepper knows of each series and gateway between steps.

Layer: plain in-memory bookkeeping beside :mod:`cloud.alarms.stepping`, which reads the
database for it. Readings come from the feed as (series id, time, value); the book keeps
per series its name, its poll interval as observed (:func:`cloud.alarms.intervals.learn`),
its :class:`Series` with its station's metadata, and the bindings of the rules watching
it, so a reading costs a dictionary lookup and its bindings. Per gateway: the station's
metadata and the shortest interval of its series (a gateway absence rule's silence limit
is a multiple of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Literal

from cloud.alarms.binding import Binding
from cloud.alarms.evaluator import Evaluator
from cloud.alarms.events import Sample, Series
from cloud.alarms.intervals import NOT_YET, Interval, learn
from cloud.storage.alarm_eval import GatewayContext
from cloud.storage.alarm_feed import FeedReading, SeriesName

_WATER_BODIES = ("river", "lake")
_TIME = itemgetter(1)  # of a FeedReading
# a series silent for this many of its intervals no longer sets its gateway's interval
_GONE_AFTER = 10


@dataclass(slots=True, eq=False)
class Known:
    """What the book keeps of one series."""

    name: SeriesName
    last_ms: int | None = None  # its newest reading's time
    interval: Interval = NOT_YET  # its poll interval, as observed
    series: Series | None = None  # None: to be built (metadata or interval changed)
    bindings: Sequence[Binding] = ()
    bound_to: Evaluator | None = None  # the evaluator the bindings belong to


class SeriesBook:
    """Series by id and gateways' station metadata; see the module docstring."""

    def __init__(self) -> None:
        self.context: dict[str, GatewayContext] = {}  # by gateway: its station's metadata
        self._known: dict[int, Known] = {}  # by series id
        self._of_gateway: dict[str, list[Known]] = {}  # the known series of each gateway
        self._fastest: dict[str, float | None] = {}  # by gateway: its series' shortest interval

    def forget_stations(self) -> None:
        """Drop every station's metadata: read afresh when next needed."""
        self.context.clear()
        for known in self._known.values():
            known.series = None

    def unknown_series(self, readings: Iterable[FeedReading]) -> set[int]:
        """Ids of the series among ``readings`` the book does not know yet."""
        return {r.series_id for r in readings} - self._known.keys()

    def add_series(self, names: dict[int, SeriesName]) -> None:
        """Know these series (their names read from the database)."""
        for series_id, name in names.items():
            known = self._known[series_id] = Known(name)
            self._of_gateway.setdefault(name.gateway_id, []).append(known)

    def gateways_of(self, readings: Iterable[FeedReading]) -> set[str]:
        """The gateways of the known series among ``readings``."""
        known = self._known
        return {known[r.series_id].name.gateway_id for r in readings if r.series_id in known}

    def missing_gateways(self, gateway_ids: Iterable[str]) -> set[str]:
        """Those of ``gateway_ids`` whose station metadata the book lacks."""
        return set(gateway_ids) - self.context.keys()

    def update_stations(
        self, fresh: dict[str, GatewayContext], evaluator: Evaluator
    ) -> list[Series]:
        """Take the station metadata read again for the known gateways; the series of
        those whose metadata changed, rebuilt (those of a gateway gone: skipped from now)."""
        changed = {g for g, ctx in self.context.items() if fresh.get(g) != ctx}
        for gateway_id in changed:
            if gateway_id in fresh:
                self.context[gateway_id] = fresh[gateway_id]
            else:
                del self.context[gateway_id]  # gone: its readings are skipped
        moved: list[Series] = []
        for known in self._known.values():
            if known.name.gateway_id in changed:
                known.series = None
                series = self.bind(evaluator, known)
                if series is not None:
                    moved.append(series)
        return moved

    def built_series(self) -> list[Series]:
        """Every series built so far (with metadata and interval)."""
        return [k.series for k in self._known.values() if k.series is not None]

    def relimit(self, evaluator: Evaluator, now_ms: int) -> None:
        """Gateways whose shortest interval changed by ``now_ms`` (a fast device removed):
        their series' silence limits now, not at their next reading."""
        for gateway_id, mine in self._of_gateway.items():
            if self._fastest_of(gateway_id, now_ms):
                for known in mine:
                    series = self.bind(evaluator, known)
                    if series is not None:
                        evaluator.relimit(series)

    def samples(
        self, evaluator: Evaluator, readings: list[FeedReading]
    ) -> list[tuple[Sample, Sequence[Binding]]]:
        """The readings some rule watches, in time order, each with its bindings."""
        out = []
        known_of = self._known.get
        # in time order: a series' interval is learnt from consecutive readings
        for series_id, time_ms, value in sorted(readings, key=_TIME):
            known = known_of(series_id)
            if known is None:
                continue  # deleted meanwhile
            last = known.last_ms
            if last is None or time_ms > last:
                known.last_ms = time_ms
                if last is not None:
                    before = known.interval
                    known.interval = learn(before, (time_ms - last) / 1000)
                    if known.interval.seconds != before.seconds:
                        known.series = None  # a new interval: a new silence limit
                        self._fastest_of(known.name.gateway_id, time_ms)
            series = known.series
            if series is None or known.bound_to is not evaluator:
                series = self.bind(evaluator, known)
                if series is None:
                    continue  # its gateway is not known
            if known.bindings:
                out.append((Sample(series, time_ms, value), known.bindings))
        return out

    def _fastest_of(self, gateway_id: str, at_ms: int) -> bool:
        """Follow the shortest interval of a gateway's series (a gateway absence rule's
        silence limit is a multiple of it); its series are rebuilt when it changes.
        A series silent at ``at_ms`` for 10 of its intervals (a device removed) no
        longer counts. True if it changed."""
        mine = self._of_gateway.get(gateway_id, [])
        seconds = [
            k.interval.seconds for k in mine
            if k.interval.seconds is not None and k.last_ms is not None
            and at_ms - k.last_ms <= _GONE_AFTER * k.interval.seconds * 1000
        ]  # fmt: skip
        fastest = min(seconds) if seconds else None
        if fastest == self._fastest.get(gateway_id):
            return False
        self._fastest[gateway_id] = fastest
        for known in mine:
            known.series = None
        return True

    def bind(self, evaluator: Evaluator, known: Known) -> Series | None:
        """The series with its station's metadata and interval, bound to ``evaluator``'s
        rules; None if its gateway is not known."""
        name = known.name
        ctx = self.context.get(name.gateway_id)
        if ctx is None:
            return None
        if known.series is None:
            body: Literal["river", "lake"] | None = (
                ctx.water_body if ctx.water_body in _WATER_BODIES else None  # type: ignore[assignment]
            )
            known.series = Series(
                ctx.tenant, name.gateway_id, name.device, name.quantity, ctx.site, ctx.region,
                known.interval.seconds, ctx.time_zone, ctx.water_target, body, ctx.noise_zone,
                self._fastest.get(name.gateway_id),
            )  # fmt: skip
        known.bindings = evaluator.bindings(known.series)
        known.bound_to = evaluator
        return known.series
