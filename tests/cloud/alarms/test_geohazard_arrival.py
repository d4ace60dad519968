"""A rain gauge's and a crack meter's readings raise the same geohazard warning however
their batches interleave on the way in (separate uplinks, a backlog replayed after an
outage): the station's warning must not depend on which sensor's batch came first.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.alarms import Evaluator, Sample
from tests.cloud.alarms.helpers import T0, rule, samples, series

HALF_HOUR = 1_800_000
LANDSLIDE = rule(
    id="slope",
    kind="geohazard",
    scope={"sites": ["s1"]},
    levels=[
        {"level": "blue", "rain_mm": 50, "displacement_mm_per_day": 1},
        {"level": "yellow", "rain_mm": 80, "displacement_mm_per_day": 3},
        {"level": "orange", "rain_mm": 100, "displacement_mm_per_day": 5},
    ],
)
RAIN = samples(series("rainfall", device="gauge"), [10.0 * i for i in range(13)], step=HALF_HOUR)
MOVES = samples(
    series("displacement", device="crack"), [0.3 * i for i in range(13)], step=HALF_HOUR
)
NOW = T0 + 13 * HALF_HOUR


def _transitions(batches: list[list[Sample]]) -> list[tuple[str, str]]:
    evaluator = Evaluator([LANDSLIDE])
    return [(t.kind, t.level) for batch in batches for t in evaluator.feed(batch, NOW)]


def test_the_rain_gauge_first_then_the_crack_meter_warns() -> None:
    # each sensor's six hours in a batch of its own, the gauge's first: the meter's
    # readings are older than the gauge's newest, and still count
    assert _transitions([RAIN, MOVES])[-1][1] == "orange"
    assert _transitions([MOVES, RAIN]) == _transitions([RAIN + MOVES])


@settings(deadline=None, max_examples=60)
@given(st.data())
def test_any_interleaving_of_the_two_sensors_batches_warns(data: st.DataObject) -> None:
    def cut(readings: list[Sample]) -> list[list[Sample]]:
        points = sorted(data.draw(st.sets(st.integers(1, len(readings) - 1), max_size=4)))
        bounds = [0, *points, len(readings)]
        return [readings[a:b] for a, b in itertools.pairwise(bounds)]

    rain, moves = cut(RAIN), cut(MOVES)
    order = data.draw(st.permutations([0] * len(rain) + [1] * len(moves)))
    queues = [list(rain), list(moves)]
    batches = [queues[which].pop(0) for which in order]  # each sensor's batches in order
    got = _transitions(batches)
    # rain and movement only grow: the warning opens once, rises to orange, never clears
    assert got[0][0] == "open"
    assert got[-1][1] == "orange"
    assert all(kind == "level" for kind, _ in got[1:])
    assert len({level for _, level in got}) == len(got)
