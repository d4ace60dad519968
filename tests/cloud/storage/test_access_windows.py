"""Grant windows: their union as disjoint ranges, and cutting them to a query window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from cloud.storage.access import clip, merge_windows

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Window = tuple[datetime | None, datetime | None]

bound = st.none() | st.integers(0, 100).map(lambda h: T0 + timedelta(hours=h))
windows = st.lists(
    st.tuples(bound, bound).filter(lambda w: w[0] is None or w[1] is None or w[0] < w[1]),
    min_size=1,
    max_size=6,
)


def _covers(ranges: list[Window], t: datetime) -> bool:
    return any((lo is None or lo <= t) and (hi is None or t < hi) for lo, hi in ranges)


@given(windows)
def test_merged_windows_cover_the_same_instants_without_overlap(ranges: list[Window]) -> None:
    merged = merge_windows(ranges)
    for hour in range(-1, 102):
        t = T0 + timedelta(hours=hour, minutes=30)
        assert _covers(merged, t) == _covers(ranges, t)
        assert sum(_covers([w], t) for w in merged) <= 1


@given(windows, st.integers(0, 100), st.integers(1, 50))
def test_clipped_windows_stay_inside_the_query(ranges: list[Window], a: int, span: int) -> None:
    start, end = T0 + timedelta(hours=a), T0 + timedelta(hours=a + span)
    clipped = clip(merge_windows(ranges), start, end)
    assert all(start <= lo < hi <= end for lo, hi in clipped)
    for hour in range(a, a + span):
        t = T0 + timedelta(hours=hour, minutes=30)
        assert _covers(list(clipped), t) == _covers(ranges, t)


def test_an_unbounded_window_absorbs_the_others() -> None:
    assert merge_windows([(T0, T0 + timedelta(hours=1)), (None, None)]) == [(None, None)]
