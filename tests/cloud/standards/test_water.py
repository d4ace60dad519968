"""GB 3838-2002 single-factor classification, against Table 1 as published."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.standards import WaterClass, classify, item_class
from cloud.standards.errors import InvalidValueError, MissingValueError
from cloud.standards.water import (
    ITEMS,
    STATUS,
    exceedance_multiple,
    limits,
    main_pollutants,
    worse_than,
)
from cloud.standards.water_tables import UPPER_LIMITS

# Table 1 as reproduced at https://g230.com/9327769.html (items 3-9, classes I..V).
PUBLISHED = {
    "dissolved_oxygen": (7.5, 6, 5, 3, 2),
    "permanganate_index": (2, 4, 6, 10, 15),
    "cod": (15, 15, 20, 30, 40),
    "bod5": (3, 3, 4, 6, 10),
    "ammonia_nitrogen": (0.15, 0.5, 1.0, 1.5, 2.0),
    "total_phosphorus": (0.02, 0.1, 0.2, 0.3, 0.4),
    "total_nitrogen": (0.2, 0.5, 1.0, 1.5, 2.0),
}


@pytest.mark.parametrize(("item", "row"), PUBLISHED.items())
def test_limits_match_the_published_table(item: str, row: tuple[float, ...]) -> None:
    assert limits(item) == row


def test_lake_phosphorus_limits() -> None:
    # Table 1 item 8, the bracketed 湖、库 values: 0.01, 0.025, 0.05, 0.1, 0.2
    assert limits("total_phosphorus", "lake") == (0.01, 0.025, 0.05, 0.1, 0.2)
    assert item_class("total_phosphorus", 0.05, "lake") is WaterClass.III
    assert item_class("total_phosphorus", 0.05, "river") is WaterClass.II


def test_a_value_on_a_limit_meets_that_class_and_the_best_class_wins() -> None:
    assert item_class("ammonia_nitrogen", 1.0) is WaterClass.III
    assert item_class("ammonia_nitrogen", 1.01) is WaterClass.IV
    assert item_class("cod", 15) is WaterClass.I  # I and II share 15 mg/L
    assert item_class("ammonia_nitrogen", 2.01) is WaterClass.WORSE_THAN_V


def test_dissolved_oxygen_is_higher_is_better() -> None:
    assert item_class("dissolved_oxygen", 8) is WaterClass.I
    assert item_class("dissolved_oxygen", 5.5) is WaterClass.III
    assert item_class("dissolved_oxygen", 2) is WaterClass.V
    assert item_class("dissolved_oxygen", 1.9) is WaterClass.WORSE_THAN_V


def test_ph_outside_6_to_9_is_worse_than_v() -> None:
    assert item_class("ph", 6) is WaterClass.I
    assert item_class("ph", 9) is WaterClass.I
    assert item_class("ph", 9.1) is WaterClass.WORSE_THAN_V
    with pytest.raises(InvalidValueError):
        item_class("ph", 15)


def test_overall_class_is_the_worst_item_and_names_it() -> None:
    result = classify({"dissolved_oxygen": 5.5, "ammonia_nitrogen": 0.4, "cod": 35})
    assert result.overall is WaterClass.V
    assert result.deciding == ("cod",)
    assert result.overall.label == "V"
    tied = classify({"dissolved_oxygen": 1, "ammonia_nitrogen": 3})
    assert tied.overall is WaterClass.WORSE_THAN_V
    assert tied.overall.label == "劣V"
    assert tied.deciding == ("dissolved_oxygen", "ammonia_nitrogen")


def test_total_nitrogen_is_rated_for_lakes_only() -> None:
    river = classify({"total_nitrogen": 3, "cod": 15})
    assert river.overall is WaterClass.I
    assert river.items[0].water_class is None
    lake = classify({"total_nitrogen": 3, "cod": 15}, "lake")
    assert lake.overall is WaterClass.WORSE_THAN_V
    with pytest.raises(MissingValueError):
        classify({"total_nitrogen": 3})


def test_target_class() -> None:
    result = classify({"dissolved_oxygen": 5.5, "ammonia_nitrogen": 1.2})
    assert [i.item for i in worse_than(result, WaterClass.III)] == ["ammonia_nitrogen"]
    assert worse_than(result, WaterClass.IV) == ()
    assert WaterClass.parse("iii") is WaterClass.III
    assert WaterClass.parse("劣V") is WaterClass.WORSE_THAN_V
    assert WaterClass.parse("4") is WaterClass.IV
    with pytest.raises(InvalidValueError):
        WaterClass.parse("VI")


@pytest.mark.parametrize("bad", [-0.1, float("nan"), "1"])
def test_bad_values_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError):
        classify({"cod": bad})  # type: ignore[dict-item]
    with pytest.raises(InvalidValueError):
        classify({"chlorophyll": 1})


RATED = sorted(set(ITEMS) - {"ph"})


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.sampled_from(RATED), st.floats(0, 50000), st.floats(0, 50000), st.booleans())
def test_class_is_monotonic_per_item(item: str, a: float, b: float, lake: bool) -> None:
    low, high = sorted((a, b))
    body = "lake" if lake else "river"
    better, worse = (high, low) if item == "dissolved_oxygen" else (low, high)
    assert item_class(item, better, body) <= item_class(item, worse, body)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.sampled_from(sorted(UPPER_LIMITS)))
def test_each_limit_is_the_edge_of_its_class(item: str) -> None:
    for number, limit in enumerate(limits(item), start=1):
        assert item_class(item, limit) <= WaterClass(number)
        assert item_class(item, limit * 1.001) > WaterClass(number) or (
            number < 5 and limits(item)[number] >= limit * 1.001
        )


def test_main_pollutants_of_a_published_section() -> None:
    # 广东省2016年第二季度重点河流水质状况 (http://swhqglq.gov.cn/swhqglq/zdly/hjbh/szhj/
    # content/post_434417.html): 龙岗河 西湖村, target III, class 劣V, main pollutants
    # "氨氮/1.3、总磷/0.6、化学需氧量/0.2" (multiples over class III), i.e. NH3-N 2.3,
    # TP 0.32 and COD 24 mg/L; 坪山河 上垟: "总磷/0.6、氨氮/0.3".
    xihu = classify(
        {"cod": 24, "total_phosphorus": 0.32, "ammonia_nitrogen": 2.3, "dissolved_oxygen": 6.0}
    )
    assert xihu.overall is WaterClass.WORSE_THAN_V
    assert [(p.item, p.multiple) for p in main_pollutants(xihu)] == [
        ("ammonia_nitrogen", pytest.approx(1.3)),
        ("total_phosphorus", pytest.approx(0.6)),
        ("cod", pytest.approx(0.2)),
    ]
    shangyang = classify({"ammonia_nitrogen": 1.3, "total_phosphorus": 0.32})
    assert [(p.item, round(p.multiple or 0, 1)) for p in main_pollutants(shangyang)] == [
        ("total_phosphorus", 0.6),
        ("ammonia_nitrogen", 0.3),
    ]
    assert STATUS[xihu.overall] == ("重度污染", "heavily polluted")


def test_main_pollutants_rules() -> None:
    # class III or better: none; at most three; cyanide and heavy metals first; DO no multiple
    assert main_pollutants(classify({"cod": 20})) == ()
    many = classify(
        {"cod": 45, "bod5": 12, "ammonia_nitrogen": 2.5, "total_phosphorus": 0.5, "lead": 0.06}
    )
    main = main_pollutants(many)
    assert main[0].item == "lead"
    assert len(main) == 3
    low_do = main_pollutants(classify({"dissolved_oxygen": 2.5}))
    assert [(p.item, p.multiple) for p in low_do] == [("dissolved_oxygen", None)]
    assert exceedance_multiple("cod", 20) is None
