"""QN per HJ 212 packet: the readings' instant, bumped while taken, the same on resend."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.uplink.hj212_qn import QnAllocator

T = 1_780_286_400_000


def test_a_second_packet_of_an_instant_gets_the_next_millisecond() -> None:
    qns = QnAllocator()
    assert qns.qn_ms(1, T) == T
    assert qns.qn_ms(2, T) == T + 1
    assert qns.qn_ms(3, T) == T + 2
    assert qns.qn_ms(1, T) == T  # resent: the same QN
    qns.delivered(1)
    assert qns.qn_ms(4, T) == T + 3  # a delivered QN stays taken


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 50)), max_size=200))
def test_qns_are_unique_per_packet_and_stable_until_delivered(
    packets: list[tuple[int, int]],
) -> None:
    qns = QnAllocator()
    given_to: dict[tuple[int, int], int] = {}
    for seq, offset in packets:
        qn = qns.qn_ms(seq, T + offset)
        assert qn >= T + offset
        assert given_to.setdefault((seq, T + offset), qn) == qn
    assert len(set(given_to.values())) == len(given_to)


def test_memory_is_bounded() -> None:
    qns = QnAllocator(remembered=3)
    for seq in range(10):
        qns.qn_ms(seq, T + seq)
        qns.delivered(seq)
    assert qns.qn_ms(99, T) == T  # long forgotten: free again
