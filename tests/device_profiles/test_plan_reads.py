"""plan_reads: cover every point once, within the read size and gap limits, in few reads."""

from __future__ import annotations

import functools
import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from device_profiles import Block, Point, plan_reads
from tests.device_profiles.strategies import REGISTER_TYPES


@st.composite
def point_sets(draw: st.DrawFn) -> list[Point]:
    """Non-overlapping points with random gaps, in shuffled order."""
    address = draw(st.integers(0, 100))
    result = []
    for index in range(draw(st.integers(0, 40))):
        address += draw(st.integers(0, 12) | st.just(0))
        data_type = draw(st.sampled_from(REGISTER_TYPES))
        result.append(Point(name=f"p{index}", quantity="q", address=address, data_type=data_type))
        address += data_type.register_count
    return draw(st.permutations(result))


def _fewest_reads(points: list[Point], max_registers: int, max_gap: int) -> int:
    """Minimum number of reads, by dynamic programming over the sorted points."""
    ordered = sorted(points, key=lambda p: p.address)

    def fits(i: int, j: int) -> bool:
        run = ordered[i : j + 1]
        gaps_ok = all(b.address - a.end <= max_gap for a, b in itertools.pairwise(run))
        return gaps_ok and run[-1].end - run[0].address <= max_registers

    @functools.cache
    def best(i: int) -> int:
        if i == len(ordered):
            return 0
        return min(1 + best(j + 1) for j in range(i, len(ordered)) if j == i or fits(i, j))

    return best(0)


def _check_block(block: Block, max_registers: int, max_gap: int) -> None:
    members = list(block.points)
    assert members == sorted(members, key=lambda p: p.address)
    assert block.start == members[0].address
    assert block.start + block.count == max(p.end for p in members)
    assert block.count <= max_registers
    for before, after in itertools.pairwise(members):
        assert 0 <= after.address - before.end <= max_gap


@given(
    points=point_sets(),
    max_registers=st.integers(4, 125),
    max_gap=st.integers(0, 10),
)
def test_plan_reads_properties(points: list[Point], max_registers: int, max_gap: int) -> None:
    snapshot = list(points)
    blocks = plan_reads(points, max_registers=max_registers, max_gap=max_gap)
    assert points == snapshot, "plan_reads must not reorder its input"
    planned = [p.name for block in blocks for p in block.points]
    assert sorted(planned) == sorted(p.name for p in points), "every point exactly once"
    assert len(planned) == len(set(planned))
    for block in blocks:
        _check_block(block, max_registers, max_gap)
    for before, after in itertools.pairwise(blocks):
        assert before.start + before.count <= after.start
    assert len(blocks) == _fewest_reads(points, max_registers, max_gap)


@given(points=point_sets(), max_registers=st.integers(4, 125))
def test_no_gap_means_no_unnamed_register_is_read(points: list[Point], max_registers: int) -> None:
    for block in plan_reads(points, max_registers=max_registers):
        assert block.count == sum(p.register_count for p in block.points)


def test_plan_reads_of_nothing_is_nothing() -> None:
    assert plan_reads([]) == []


def test_plan_reads_accepts_any_iterable() -> None:
    points = (Point(name=f"p{i}", quantity="q", address=i, data_type="uint16") for i in range(3))
    (block,) = plan_reads(points)
    assert (block.start, block.count) == (0, 3)


def test_default_limit_is_125_registers() -> None:
    points = [Point(name=f"p{i}", quantity="q", address=i, data_type="uint16") for i in range(300)]
    random.Random(1).shuffle(points)
    blocks = plan_reads(points)
    assert [(b.start, b.count) for b in blocks] == [(0, 125), (125, 125), (250, 50)]


def test_gap_splits_by_default_and_joins_when_allowed() -> None:
    """JXBS-3001 soil sensor map (FACTS §5): pH at 0x06, moisture/temp 0x12-0x13, EC 0x15."""
    specs = [("ph", 0x06), ("moisture", 0x12), ("temperature", 0x13), ("ec", 0x15)]
    points = [Point(name=n, quantity="q", address=a, data_type="uint16") for n, a in specs]
    assert [(b.start, b.count) for b in plan_reads(points)] == [(0x06, 1), (0x12, 2), (0x15, 1)]
    assert [(b.start, b.count) for b in plan_reads(points, max_gap=1)] == [(0x06, 1), (0x12, 4)]
    assert [(b.start, b.count) for b in plan_reads(points, max_gap=11)] == [(0x06, 16)]
