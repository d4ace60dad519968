"""An alarm resolved by hand while its condition holds: closed until the condition clears,
but a change of level is news. A landslide warning closed at blue that turns red opens a
new alarm and is notified (it used to update nothing: the red level was lost on the
closed alarm); a threshold still crossed stays closed until it clears and comes back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from cloud.storage import Storage
from cloud.storage.alarms import resolve
from tests.cloud.alarms.live_helpers import (
    MINUTE,
    PLATFORM,
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
SLOPE = {
    "id": "slope", "kind": "geohazard", "rain_reading": "increment",
    "levels": [{"level": "blue", "rain_mm": 50, "displacement_mm_per_day": 1},
               {"level": "red", "rain_mm": 150, "displacement_mm_per_day": 10}],
}  # fmt: skip
DO_LOW = {
    "id": "do-low",
    "kind": "threshold",
    "below": 3.0,
    "clear": 3.5,
    "scope": {"quantities": ["dissolved_oxygen"]},
}


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        await rules(opened, SLOPE, DO_LOW)
        yield opened


async def test_a_landslide_warning_closed_at_blue_that_turns_red_opens_again(
    storage: Storage,
) -> None:
    clock, sink = Clock(), Recorder()
    engine = await evaluator(storage, clock, sink)
    gw = Station(storage, engine, clock)
    await gw.send("displacement", [0.0, 20.0], T0, step_ms=60 * MINUTE, device="crack")
    await gw.send("rainfall", [30.0, 30.0], T0 + 61 * MINUTE, device="gauge")
    [blue] = await alarms(storage)
    assert (blue.state, blue.level) == ("open", "blue")
    await resolve(storage, PLATFORM, blue.id, "geologist", "checked on site")
    await gw.send("rainfall", [30.0], T0 + 63 * MINUTE, device="gauge")  # 90 mm: still blue
    assert [a.id for a in await alarms(storage)] == [blue.id]
    await gw.send("rainfall", [70.0], T0 + 64 * MINUTE, device="gauge")  # 160 mm: red
    closed, red = await alarms(storage)
    assert (closed.id, closed.state, closed.level) == (blue.id, "resolved", "blue")
    assert (red.state, red.level) == ("open", "red")
    notified = [(n.alarm_id, n.kind, n.level) for n in sink.notified]
    assert notified == [(blue.id, "open", "blue"), (red.id, "open", "red")]
    await engine.stop()


async def test_a_threshold_resolved_by_hand_stays_closed_until_it_clears(
    storage: Storage,
) -> None:
    clock = Clock()
    engine = await evaluator(storage, clock)
    gw = Station(storage, engine, clock)
    await gw.send("dissolved_oxygen", [2.0], T0)
    [first] = await alarms(storage)
    await resolve(storage, PLATFORM, first.id, "duty", "aerator switched on")
    await gw.send("dissolved_oxygen", [2.1, 2.2], T0 + MINUTE)
    assert [(a.id, a.state) for a in await alarms(storage)] == [(first.id, "resolved")]
    await gw.send("dissolved_oxygen", [4.0, 2.0], T0 + 3 * MINUTE)  # clears, comes back
    _, again = await alarms(storage)
    assert again.state == "open"
    await engine.stop()
