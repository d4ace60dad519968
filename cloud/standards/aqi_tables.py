"""The tables of HJ 633-2012 (环境空气质量指数(AQI)技术规定(试行)), as data.

Layer: constants only; no I/O, no logic.

Sources, checked against each other (the standard's own PDF was not retrievable
here; see ``../shared/domain/FACTS.md`` §2):

* Table 1 (IAQI breakpoints): identical arrays in independent reproductions of
  the standard's table, e.g. https://blog.csdn.net/FORLOVEHUAN/article/details/102938324
  (all ten rows, including the short SO2 1-h and O3 8-h rows) and
  https://www.cnblogs.com/lierjie/p/5068933.html (1-h rows); the IAQI 50 and 100
  columns equal the grade-1 and grade-2 limits of GB 3095-2012 Table 1
  (reproduced at http://www.onxelh.cn/417/990/1193087).
* Table 1 notes (1)-(4): the SO2 1-h rule (above 800 µg/m³ the 1-h IAQI is not
  computed; the 24-h IAQI is reported) and the O3 8-h rule (above 800 µg/m³ the
  1-h IAQI is reported instead) as stated in HJ 633 and FACTS.md §2.
* Table 2 (levels, categories) and Appendix A (colours, RGB): FACTS.md §2 and
  http://www.24hlianjia.com/xgtz/294.html (levels 一级…六级 and their AQI ranges).
* Formula (1) and the definitions of BP_Hi/BP_Lo: https://blog.csdn.net/kexiiii/article/details/119535019.

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
# the real-time report rates their (24-h moving) means on the 24-h row.
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
