"""RTU line timing: the figures of FACTS.md §7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.bus_timing import char_time_s, read_transaction_s, silent_interval_s


def test_9600_8n1_figures() -> None:
    assert char_time_s(9600) == pytest.approx(1.042e-3, abs=1e-6)
    assert silent_interval_s(9600) == pytest.approx(3.65e-3, abs=1e-5)
    assert silent_interval_s(9600, "E") == pytest.approx(4.01e-3, abs=1e-5)
    assert silent_interval_s(4800) == pytest.approx(7.29e-3, abs=1e-5)
    # FACTS.md §7 table: 2 registers, no latency: 25.0 ms
    assert read_transaction_s(2, 9600) == pytest.approx(25.0e-3, abs=0.1e-3)


def test_fast_lines_use_the_fixed_silence() -> None:
    assert silent_interval_s(38400) == 0.00175
    assert silent_interval_s(115200) == 0.00175


@given(st.sampled_from([1200, 2400, 4800, 9600, 19200]), st.sampled_from(["N", "E", "O"]))
def test_silence_is_three_and_a_half_characters_up_to_19200(baud: int, parity: str) -> None:
    line = "E" if parity == "E" else "O" if parity == "O" else "N"
    assert silent_interval_s(baud, line) == pytest.approx(3.5 * char_time_s(baud, line))


def test_baud_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        char_time_s(0)
