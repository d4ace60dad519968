"""HJ 633-2012: worked examples from publications, and properties of the index."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.standards import MissingValueError, air_quality_index, iaqi, level_of
from cloud.standards.aqi_tables import DAILY, HOURLY, IAQI_STEPS
from cloud.standards.errors import InvalidValueError

ROWS = [("daily", code, row) for code, row in DAILY.items()] + [
    ("hourly", code, row) for code, row in HOURLY.items()
]


# GB 3095-2012 Table 1 (http://www.onxelh.cn/417/990/1193087): the grade-2 limit of each
# pollutant is where HJ 633 puts IAQI 100, the grade-1 limit (where lower) IAQI 50.
@pytest.mark.parametrize(
    ("table", "code", "grade1", "grade2"),
    [
        (DAILY, "so2", 50, 150),
        (HOURLY, "so2", 150, 500),
        (DAILY, "no2", None, 80),
        (HOURLY, "no2", None, 200),
        (DAILY, "co", None, 4),
        (HOURLY, "co", None, 10),
        (DAILY, "o3_8h", 100, 160),
        (HOURLY, "o3", 160, 200),
        (DAILY, "pm10", 50, 150),
        (DAILY, "pm2_5", 35, 75),
    ],
)
def test_gb3095_limits_sit_on_iaqi_50_and_100(
    table: dict[str, tuple[float, ...]], code: str, grade1: float | None, grade2: float
) -> None:
    assert iaqi(grade2, table[code]) == (100, False)
    if grade1 is not None:
        assert iaqi(grade1, table[code]) == (50, False)


def test_pm25_examples_of_a_published_explainer() -> None:
    # max.book118.com/html/2022/0628/6110045204004203.shtm (空气质量指数AQI计算方法):
    # 35 µg/m³ -> 50, 75 -> 100, 500 -> 500, and above 500 the AQI stays 500 ("爆表").
    row = DAILY["pm2_5"]
    assert iaqi(35, row) == (50, False)
    assert iaqi(75, row) == (100, False)
    assert iaqi(500, row) == (500, False)
    assert iaqi(800, row) == (500, True)
    assert air_quality_index({"pm2_5": 800}).aqi == 500


@pytest.mark.parametrize(
    ("aqi", "level", "category", "primary"),
    # m.chujuan.cn/question/preview/60450445 (an exam on HJ 633): city 甲 AQI 34 -> I and
    # no primary pollutant; 乙 97 -> II; 丙 119 -> III with PM10 as primary pollutant.
    [(34, "一级", "优", False), (97, "二级", "良", True), (119, "三级", "轻度污染", True)],
)
def test_exam_levels(aqi: int, level: str, category: str, primary: bool) -> None:
    assert (level_of(aqi).name, level_of(aqi).category) == (level, category)
    # PM10 whose IAQI is exactly `aqi`: 0..50 maps 1:1, 50..150 and 150..250 µg/m³ 2:1.
    if aqi <= 50:
        concentration = aqi
    elif aqi <= 100:
        concentration = 50 + 2 * (aqi - 50)
    else:
        concentration = 150 + 2 * (aqi - 100)
    result = air_quality_index({"pm10": concentration, "so2": 5})
    assert result.aqi == aqi
    assert result.primary == (("pm10",) if primary else ())


def test_levels_categories_and_colours_of_table_2_and_appendix_a() -> None:
    expected = [
        (0, "一级", "优", (0, 228, 0)),
        (50, "一级", "优", (0, 228, 0)),
        (51, "二级", "良", (255, 255, 0)),
        (100, "二级", "良", (255, 255, 0)),
        (101, "三级", "轻度污染", (255, 126, 0)),
        (150, "三级", "轻度污染", (255, 126, 0)),
        (151, "四级", "中度污染", (255, 0, 0)),
        (200, "四级", "中度污染", (255, 0, 0)),
        (201, "五级", "重度污染", (153, 0, 76)),
        (300, "五级", "重度污染", (153, 0, 76)),
        (301, "六级", "严重污染", (126, 0, 35)),
        (500, "六级", "严重污染", (126, 0, 35)),
    ]
    for aqi, name, category, rgb in expected:
        level = level_of(aqi)
        assert (level.name, level.category, level.rgb) == (name, category, rgb), aqi
    assert level_of(101).hex == "#FF7E00"
    assert level_of(101).category_en == "Lightly polluted"


def test_iaqi_is_rounded_up() -> None:
    # (150-100)/(115-75) x (80-75) + 100 = 106.25 -> 107 (进位取整)
    assert iaqi(80, DAILY["pm2_5"]) == (107, False)
    # exact decimals: 2.2 mg/m³ CO is 25 x 0.2 + 50 = 55, not 56 from 2.2's binary neighbour
    assert iaqi(2.2, DAILY["co"]) == (55, False)


def test_daily_report_with_every_pollutant() -> None:
    result = air_quality_index(
        {"pm2_5": 80, "pm10": 120, "so2": 10, "no2": 40, "co": 0.8, "o3_8h": 120, "o3": 150}
    )
    by_code = {s.pollutant: s.iaqi for s in result.sub_indices}
    assert by_code == {
        "pm2_5": 107, "pm10": 85, "so2": 10, "no2": 50, "co": 20, "o3_8h": 67, "o3": 47,
    }  # fmt: skip
    assert result.aqi == 107
    assert result.primary == ("pm2_5",)
    assert result.exceeding == ("pm2_5",)


def test_ties_name_every_primary_pollutant() -> None:
    result = air_quality_index({"pm10": 150, "pm2_5": 75}, mode="daily")
    assert result.aqi == 100
    assert result.primary == ("pm10", "pm2_5")
    assert result.exceeding == ()


def test_no_primary_pollutant_at_or_below_50() -> None:
    assert air_quality_index({"pm2_5": 35, "pm10": 50}).primary == ()


def test_hourly_so2_above_800_is_rated_by_its_24h_mean() -> None:
    with pytest.raises(MissingValueError, match="so2_24h"):
        air_quality_index({"so2": 900}, mode="hourly")
    result = air_quality_index({"so2": 900, "so2_24h": 475}, mode="hourly")
    assert result.aqi == 150
    assert result.sub_indices[0].note is not None
    assert air_quality_index({"so2": 800}, mode="hourly").aqi == 200


def test_o3_8h_above_800_is_rated_by_the_1h_value() -> None:
    with pytest.raises(MissingValueError, match="o3"):
        air_quality_index({"o3_8h": 900})
    result = air_quality_index({"o3_8h": 900, "o3": 1000})
    assert {s.pollutant: s.iaqi for s in result.sub_indices} == {"o3_8h": 400, "o3": 400}
    assert result.primary == ("o3_8h", "o3")


def test_hourly_uses_the_1h_rows() -> None:
    assert air_quality_index({"no2": 200}, mode="hourly").aqi == 100
    assert air_quality_index({"no2": 200}, mode="daily").aqi == 160  # 150 + 50 x 20/100


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "12", True])
def test_bad_concentrations_are_refused(bad: object) -> None:
    with pytest.raises(InvalidValueError):
        air_quality_index({"pm2_5": bad})  # type: ignore[dict-item]


def test_so2_24h_only_in_the_hourly_report() -> None:
    with pytest.raises(InvalidValueError, match="hourly"):
        air_quality_index({"so2": 10, "so2_24h": 10})
    with pytest.raises(MissingValueError):
        air_quality_index({})


@pytest.mark.parametrize(("mode", "code", "row"), ROWS)
def test_exact_at_every_breakpoint(mode: str, code: str, row: tuple[float, ...]) -> None:
    for concentration, step in zip(row, IAQI_STEPS, strict=False):
        assert iaqi(concentration, row) == (step, False), (mode, code, concentration)


@st.composite
def _row_and_two(draw: st.DrawFn) -> tuple[tuple[float, ...], float, float]:
    _, _, row = draw(st.sampled_from(ROWS))
    # decimals with one place often land the formula on an integer: the exact path
    value = st.one_of(
        st.floats(0, row[-1] * 1.2, allow_nan=False, allow_infinity=False),
        st.integers(0, int(row[-1] * 12)).map(lambda tenths: tenths / 10),
    )
    a, b = sorted(draw(value) for _ in "ab")
    return row, a, b


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(_row_and_two())
def test_iaqi_is_monotonic_in_concentration(case: tuple[tuple[float, ...], float, float]) -> None:
    row, low, high = case
    assert iaqi(low, row)[0] <= iaqi(high, row)[0]


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(_row_and_two())
def test_iaqi_is_the_ceiling_of_the_linear_formula(
    case: tuple[tuple[float, ...], float, float],
) -> None:
    row, concentration, _ = case
    index, beyond = iaqi(concentration, row)
    if concentration >= row[-1]:
        assert index == IAQI_STEPS[len(row) - 1]
        assert beyond == (concentration > row[-1])
        return
    segment = next(i for i in range(1, len(row)) if concentration <= row[i])
    lo, hi = Fraction(row[segment - 1]), Fraction(row[segment])
    c = Fraction(repr(concentration))
    exact = Fraction(IAQI_STEPS[segment] - IAQI_STEPS[segment - 1]) / (hi - lo) * (c - lo)
    exact += IAQI_STEPS[segment - 1]
    assert index - 1 < exact <= index


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.integers(0, 600))
def test_category_boundaries(aqi: int) -> None:
    uppers = [50, 100, 150, 200, 300]
    assert level_of(aqi).number == 1 + sum(aqi > upper for upper in uppers)


@settings(deadline=None)  # no timed assertions: the suite shares loaded cores
@given(st.dictionaries(st.sampled_from(sorted(DAILY)), st.floats(0, 1000), min_size=1))
def test_aqi_is_the_largest_iaqi_and_primaries_hold_it(values: dict[str, float]) -> None:
    if values.get("o3_8h", 0) > 800:
        values["o3"] = values.get("o3", 0)
    result = air_quality_index(values)
    assert result.aqi == max(s.iaqi for s in result.sub_indices)
    if result.aqi > 50:
        assert result.primary
        assert all(
            s.iaqi == result.aqi for s in result.sub_indices if s.pollutant in result.primary
        )
    else:
        assert result.primary == ()


def test_table_1_as_transcribed_with_its_notes() -> None:
    # HJ 633-2012 Table 1 as transcribed in the page "空气质量浓度和指数换算表"
    # (AirQualityDenAndIndexTable.aspx; see cloud/standards/aqi_tables.py), whose
    # SO2 24-h value at IAQI 50 reads "52", a typo for GB 3095's 50.
    assert DAILY["so2"] == (0, 50, 150, 475, 800, 1600, 2100, 2620)
    assert HOURLY["so2"] == (0, 150, 500, 650, 800)  # (2) above 800: the 24-h IAQI
    assert DAILY["no2"] == (0, 40, 80, 180, 280, 565, 750, 940)
    assert HOURLY["no2"] == (0, 100, 200, 700, 1200, 2340, 3090, 3840)
    assert DAILY["pm10"] == (0, 50, 150, 250, 350, 420, 500, 600)
    assert DAILY["co"] == (0, 2, 4, 14, 24, 36, 48, 60)
    assert HOURLY["co"] == (0, 5, 10, 35, 60, 90, 120, 150)
    assert HOURLY["o3"] == (0, 160, 200, 300, 400, 800, 1000, 1200)
    assert DAILY["o3_8h"] == (0, 100, 160, 215, 265, 800)  # (3) above 800: the 1-h IAQI
    assert DAILY["pm2_5"] == (0, 35, 75, 115, 150, 250, 350, 500)


def test_a_bureau_publication_with_tied_primary_pollutants() -> None:
    # 达州市生态环境局, 2023-02-18 daily report (http://sthjj.dazhou.gov.cn/news-show-15534.html):
    # station 凤凰小区 AQI 70, 良, primary pollutants "PM10、NO2" (a tie). Concentrations
    # whose IAQI is exactly 70 reproduce it: PM10 90 µg/m³ (50 + 2 x 20), NO2 56 µg/m³
    # (40 + 20 x 40/50); and 达县机关宾馆 AQI 83, 良, NO2 alone.
    tie = air_quality_index({"pm10": 90, "no2": 56, "pm2_5": 30})
    assert (tie.aqi, tie.level.category, tie.primary) == (70, "良", ("pm10", "no2"))
    alone = air_quality_index({"no2": 66.4, "pm10": 90})  # NO2 IAQI 40 + 33 x 40/50 -> 83
    assert (alone.aqi, alone.level.category, alone.primary) == (83, "良", ("no2",))
