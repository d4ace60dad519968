"""Night noise over the zone limit and a silent series, through ingest and the evaluator.

Simulated stations deliver through :class:`IngestPipeline` into a real PostgreSQL; the
:class:`AlarmWorker` follows what was committed, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.storage import Storage
from cloud.storage.sites import SiteAttributes, add_site
from tests.cloud.alarms.live_helpers import (
    HOUR,
    MINUTE,
    T0,
    Clock,
    Recorder,
    Station,
    alarms,
    evaluator,
    rules,
    station,
)

pytestmark = pytest.mark.anyio
# 15:00 UTC is 23:00 in Shanghai: night (GB 3096: 22:00-06:00); 09:00 UTC is 17:00: day
NIGHT = T0 - ((T0 // HOUR - 15) % 24) * HOUR
DAY = NIGHT - 6 * HOUR


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        yield opened


async def test_night_noise_over_the_zone_limit_raises_and_clears(storage: Storage) -> None:
    # a class 1 zone (residential): 55 dB(A) by day, 45 dB(A) by night
    await add_site(storage, "env", "S1", SiteAttributes(noise_zone="1"), new_tenant=True)
    await storage.register_gateway("gw-1", tenant="env", site="S1")
    await rules(storage, {"id": "night", "kind": "noise", "zone": "site", "period": "night"})
    clock, sink = Clock(), Recorder()
    worker = await evaluator(storage, clock, sink)
    at = Station(storage, worker, clock)
    await at.send("noise_level", [52.0], DAY)  # over the night limit, but by day
    assert await alarms(storage) == []
    await at.send("noise_level", [50.0, 51.0], NIGHT)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.value, alarm.subject) == ("open", 50.0, "gw-1/d1/noise_level")
    assert "night level 50.0 dB(A) over zone 1 limit 45" in alarm.detail
    await at.send("noise_level", [44.0], NIGHT + 2 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.resolved_by) == ("resolved", "auto")
    assert [n.kind for n in sink.notified] == ["open", "resolve"]
    await worker.stop()


async def test_a_series_silent_for_three_of_its_intervals_raises_and_clears(
    storage: Storage,
) -> None:
    await station(storage)
    await rules(storage, {"id": "silent", "kind": "absence", "multiple": 3})
    clock = Clock()
    worker = await evaluator(storage, clock)
    at = Station(storage, worker, clock)
    await at.send("water_temperature", [20.0, 20.1, 20.2], T0)  # every minute: limit 3 min
    clock.now_s = (T0 + 2 * MINUTE + 3 * MINUTE - 1000) / 1000
    await worker.tick()
    assert await alarms(storage) == []  # silent, but not yet for 3 intervals
    clock.now_s = (T0 + 2 * MINUTE + 4 * MINUTE) / 1000
    await worker.tick()
    await worker.tick()  # still silent: no second alarm
    [alarm] = await alarms(storage)
    assert (alarm.subject, alarm.state) == ("gw-1/d1/water_temperature", "open")
    await at.send("water_temperature", [20.3], T0 + 7 * MINUTE)
    [alarm] = await alarms(storage)
    assert (alarm.state, alarm.resolved_by) == ("resolved", "auto")
    await worker.stop()
