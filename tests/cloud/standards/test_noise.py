"""GB 3096-2008: energy averages, day/night split in local time, zone limits."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.standards import assess, day_night, ldn, leq
from cloud.standards.errors import InvalidValueError
from cloud.standards.noise import ZONE_LIMITS, zone_of


def test_leq_is_an_energy_mean() -> None:
    # Textbook: 60 and 70 dB for equal times average to 10·lg((10^6 + 10^7)/2) = 67.4 dB.
    assert leq([60, 70]) == pytest.approx(67.4036, abs=1e-4)
    assert leq([55, 55, 55]) == pytest.approx(55)


def test_ldn_adds_10_db_to_the_night() -> None:
    # Equal Ld and Ln: Ldn = L + 10·lg((16 + 8·10)/24) = L + 10·lg 4 ≈ L + 6.02 dB.
    assert ldn(50, 50) == pytest.approx(50 + 10 * math.log10(4))


def test_table_1_limits() -> None:
    # GB 3096-2008 环境噪声限值 as reproduced at http://www.irmawy.com/News/Newsin127.html
    assert ZONE_LIMITS == {
        "0": (50, 40), "1": (55, 45), "2": (60, 50), "3": (65, 55), "4a": (70, 55), "4b": (70, 60),
    }  # fmt: skip


def test_exceedance_in_zone_1() -> None:
    result = assess("1", ld=58, ln=48, lmax_night=62)
    assert (result.day_exceedance_db, result.night_exceedance_db) == (3.0, 3.0)
    assert result.night_max_limit == 60  # night limit + 15 dB(A)
    assert result.night_max_exceedance_db == 2.0
    assert result.exceeds
    quiet = assess("4b", ld=69.9, ln=60)
    assert (quiet.day_exceedance_db, quiet.night_exceedance_db) == (0.0, 0.0)
    assert not quiet.exceeds


def test_zone_spellings() -> None:
    assert zone_of("4A") == "4a"
    assert zone_of("1类") == "1"
    with pytest.raises(InvalidValueError, match="4b"):
        zone_of("4")


def test_day_and_night_follow_local_time() -> None:
    # 21:59 and 22:00 Shanghai time are 13:59 and 14:00 UTC.
    readings = [
        (datetime(2026, 11, 30, 13, 59, tzinfo=UTC), 60.0),
        (datetime(2026, 11, 30, 14, 0, tzinfo=UTC), 50.0),
        (datetime(2026, 11, 30, 21, 59, tzinfo=UTC), 50.0),  # 05:59 local: night
        (datetime(2026, 11, 30, 22, 0, tzinfo=UTC), 60.0),  # 06:00 local: day
    ]
    levels = day_night(readings)
    assert (levels.ld, levels.ln, levels.day_count, levels.night_count) == (60, 50, 2, 2)
    assert levels.night_max == 50
    assert levels.ldn == pytest.approx(ldn(60, 50))
    in_utc = day_night(readings, tz="UTC")
    assert (in_utc.day_count, in_utc.night_count) == (3, 1)
    local = day_night(readings, day_start=time(7), night_start=time(23))
    assert (local.day_count, local.night_count) == (2, 2)


def test_one_period_only_gives_no_ldn() -> None:
    start = datetime(2026, 11, 30, 10, tzinfo=UTC)
    levels = day_night([(start + timedelta(minutes=m), 55.0) for m in range(60)], tz="UTC")
    assert (levels.ld, levels.ln, levels.ldn) == (pytest.approx(55), None, None)


def test_bad_input() -> None:
    with pytest.raises(InvalidValueError, match="offset"):
        day_night([(datetime(2026, 1, 1), 50.0)])
    with pytest.raises(InvalidValueError, match="time zone"):
        day_night([], tz="Mars/Olympus")
    with pytest.raises(InvalidValueError):
        leq([])
    with pytest.raises(InvalidValueError):
        assess("1", ld=float("nan"))


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.lists(st.floats(20, 120), min_size=1, max_size=50))
def test_leq_lies_between_min_and_max_and_above_the_mean(levels: list[float]) -> None:
    value = leq(levels)
    assert min(levels) - 1e-9 <= value <= max(levels) + 1e-9
    assert value >= sum(levels) / len(levels) - 1e-9


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.floats(20, 120), st.floats(20, 120))
def test_ldn_is_monotonic_and_above_ld(ld: float, ln: float) -> None:
    assert ldn(ld, ln) <= ldn(ld + 1, ln)
    assert ldn(ld, ln) <= ldn(ld, ln + 1)
    assert ldn(ld, ln) > min(ld, ln + 10) - 1e-9
