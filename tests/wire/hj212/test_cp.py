"""The CP data area: parameters, data items with their flags, exact text."""

from __future__ import annotations

import pytest
from hypothesis import given

from tests.wire.hj212.strategies import cps
from wire.errors import Hj212Error
from wire.hj212 import Cp, DataItem, data_cp, format_cp, parse_cp


@given(cp=cps())
def test_round_trip(cp: Cp) -> None:
    assert parse_cp(format_cp(cp)) == cp


def test_hourly_data_with_avg_min_max_and_flags() -> None:
    text = (
        "DataTime=20240601120000;w01001-Avg=7.52,w01001-Min=7.40,w01001-Max=7.61,w01001-Flag=N;"
        "w21003-Avg=0.42,w21003-Min=0.35,w21003-Max=0.51,w21003-Flag=D"
    )
    cp = parse_cp(text)
    assert cp.data_time == "20240601120000"
    ph, nh3n = cp.items
    assert ph.get("Min") == "7.40"  # text kept: 7.40 stays 7.40
    assert (nh3n.number("Avg"), nh3n.flag) == (0.42, "D")
    assert format_cp(cp) == text


def test_data_cp_writes_data_time_first() -> None:
    item = DataItem("a34004", (("Rtd", "35"), ("Flag", "N")))
    assert (
        data_cp("20240601120000", (item,)) == "DataTime=20240601120000;a34004-Rtd=35,a34004-Flag=N"
    )
    with pytest.raises(Hj212Error, match="DataTime must be YYYYMMDDhhmmss"):
        data_cp("20241301120000", (item,))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("DataTime", "lacks '='"),
        ("a1-Rtd=1,a1-Rtd=2", "a1-Rtd appears twice"),
        ("QnRtn=1;QnRtn=2", "QnRtn appears twice"),
        ("-Rtd=1", "code '' must be"),
        ("a1-Rtd=" + "9" * 65, "up to 64 printable"),
    ],
)
def test_bad_cp_is_refused_precisely(text: str, message: str) -> None:
    with pytest.raises(Hj212Error, match=message):
        parse_cp(text)


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "1e999", "0x10", "1_000"])
def test_non_numbers_are_refused(text: str) -> None:
    with pytest.raises(Hj212Error, match="is not a number"):
        DataItem("a1", (("Rtd", text),)).number("Rtd")
