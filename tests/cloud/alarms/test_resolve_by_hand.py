"""An alarm resolved by hand while its condition holds is not the end of the warning.

The evaluator starts over for that rule and subject: a landslide warning closed at blue
that reaches red opens a new alarm (it used to change nothing, the red level lost on a
closed alarm), and a threshold still crossed raises a new alarm after its minimum
duration; readings already counted stay counted (the rain of the last day).
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
DO_LOW = {"id": "do-low", "kind": "threshold", "below": 3.0, "clear": 3.5, "for_s": 120}


@pytest.fixture
async def storage(migrated_database_url: str) -> AsyncIterator[Storage]:
    async with Storage(migrated_database_url) as opened:
        await station(opened)
        await rules(opened, SLOPE, DO_LOW)
        yield opened


async def test_a_landslide_warning_closed_at_blue_that_reaches_red_opens_again(
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
    await gw.send("rainfall", [60.0, 60.0], T0 + 63 * MINUTE, device="gauge")  # 180 mm
    closed, red = await alarms(storage)
    assert (closed.id, closed.state, closed.level) == (blue.id, "resolved", "blue")
    assert (red.state, red.level) == ("open", "red")
    # the new alarm opens as the rain passes 50 mm again in the step, then turns red
    notified = [(n.alarm_id, n.kind, n.level) for n in sink.notified]
    assert notified == [
        (blue.id, "open", "blue"),
        (red.id, "open", "blue"),
        (red.id, "level", "red"),
    ]
    await engine.stop()


async def test_a_threshold_still_crossed_raises_a_new_alarm_after_its_duration(
    storage: Storage,
) -> None:
    clock = Clock()
    engine = await evaluator(storage, clock)
    gw = Station(storage, engine, clock)
    await gw.send("dissolved_oxygen", [2.0, 2.0, 2.0], T0)
    [first] = await alarms(storage)
    await resolve(storage, PLATFORM, first.id, "duty", "aerator switched on")
    await gw.send("dissolved_oxygen", [2.1], T0 + 3 * MINUTE)
    assert [a.id for a in await alarms(storage)] == [first.id]  # not for 2 minutes yet
    await gw.send("dissolved_oxygen", [2.2, 2.3], T0 + 4 * MINUTE)
    _, again = await alarms(storage)
    assert (again.state, again.opened_at.timestamp() * 1000) == ("open", T0 + 5 * MINUTE)
    await engine.stop()
