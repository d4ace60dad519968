"""The tables of HJ 633-2012 (环境空气质量指数(AQI)技术规定(试行)), as data.

Layer: constants only; no I/O, no logic.

Sources, checked against each other (the standard's own PDF was not retrievable
here; see ``../shared/domain/FACTS.md`` §2):

* Table 1 (IAQI breakpoints) with its notes (1)-(3), transcribed in full in a
  public monitoring application's page "空气质量浓度和指数换算表"
  (``AirQualityDenAndIndexTable.aspx``, found by its note text "不再进行其空气质量分指数
  计算"): every value below matches it, except that the page prints the SO2 24-h
  breakpoint at IAQI 50 as "52", a typo for 50 (GB 3095-2012's grade-1 SO2 24-h
  limit, and the value in every other transcription, e.g.
  https://blog.csdn.net/FORLOVEHUAN/article/details/102938324 and
  https://www.cnblogs.com/lierjie/p/5068933.html). The IAQI 50 and 100 columns
  equal the grade-1 and grade-2 limits of GB 3095-2012 Table 1 (reproduced at
  http://www.onxelh.cn/417/990/1193087).
* Notes: (1) the 1-h rows of SO2, NO2 and CO serve the real-time report only, the
  daily report uses the 24-h rows; (2) a 1-h SO2 above 800 µg/m³ gets no IAQI of its
  own, the 24-h SO2 IAQI is reported; (3) an 8-h O3 above 800 µg/m³ gets no IAQI of
  its own, the 1-h O3 IAQI is reported.
* Table 2 (levels, categories) and Appendix A (colours, RGB): FACTS.md §2 and
  http://www.24hlianjia.com/xgtz/294.html (levels 一级…六级 and their AQI ranges).
* Formula (1) and the definitions of BP_Hi/BP_Lo: https://blog.csdn.net/kexiiii/article/details/119535019.
* The real-time report rates PM10 and PM2.5 by their 1-h means on the 24-h rows, as
  open implementations of HJ 633's real-time report do (e.g. the Go "mep"
  algorithm: "HJ633-2012 中的实时报 ... 采用 PM2.5 1H, PM10 1H").

Concentrations are in µg/m³, CO in mg/m³, as the standard gives them.
"""

from __future__ import annotations

from typing import Final

IAQI_STEPS: Final = (0, 50, 100, 150, 200, 300, 400, 500)

# Table 1, 24-hour means (the daily report); o3_8h is the daily maximum of the
# 8-hour moving average; o3 is the daily maximum 1-hour mean (1-h row).
DAILY: Final[dict[str, tuple[float, ...]]] = {
    "so2": (0, 50, 150, 475, 800, 1600, 2100, 2620),
    "no2": (0, 40, 80, 180, 280, 565, 750, 940),
    "pm10": (0, 50, 150, 250, 350, 420, 500, 600),
    "co": (0, 2, 4, 14, 24, 36, 48, 60),
    "o3": (0, 160, 200, 300, 400, 800, 1000, 1200),
    "o3_8h": (0, 100, 160, 215, 265, 800),
    "pm2_5": (0, 35, 75, 115, 150, 250, 350, 500),
}

# Table 1, 1-hour means (the real-time report). PM10 and PM2.5 have no 1-h row:
# the real-time report rates their 1-h means on the 24-h row.
HOURLY: Final[dict[str, tuple[float, ...]]] = {
    "so2": (0, 150, 500, 650, 800),
    "no2": (0, 100, 200, 700, 1200, 2340, 3090, 3840),
    "pm10": DAILY["pm10"],
    "co": (0, 5, 10, 35, 60, 90, 120, 150),
    "o3": DAILY["o3"],
    "o3_8h": DAILY["o3_8h"],
    "pm2_5": DAILY["pm2_5"],
}

SO2_1H_CEILING: Final = 800.0  # note (2): above this, report the 24-h SO2 IAQI
O3_8H_CEILING: Final = 800.0  # note (3): above this, report the 1-h O3 IAQI

PRIMARY_ABOVE: Final = 50  # a primary pollutant is named only when AQI > 50
EXCEEDING_ABOVE: Final = 100  # 超标污染物: IAQI > 100

# Table 2 and Appendix A: upper AQI bound, level, category, English, RGB colour.
LEVELS: Final = (
    (50, "一级", "I", "优", "Excellent", "绿色", (0, 228, 0)),
    (100, "二级", "II", "良", "Good", "黄色", (255, 255, 0)),
    (150, "三级", "III", "轻度污染", "Lightly polluted", "橙色", (255, 126, 0)),
    (200, "四级", "IV", "中度污染", "Moderately polluted", "红色", (255, 0, 0)),
    (300, "五级", "V", "重度污染", "Heavily polluted", "紫色", (153, 0, 76)),
    (None, "六级", "VI", "严重污染", "Severely polluted", "褐红色", (126, 0, 35)),
)
