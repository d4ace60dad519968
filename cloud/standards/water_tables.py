"""GB 3838-2002 (地表水环境质量标准) Table 1, basic items, as data.

Layer: constants only; no I/O, no logic.

Source: Table 1 (地表水环境质量标准基本项目标准限值, mg/L) as reproduced in full at
https://g230.com/9327769.html and https://www.qqmaoyi.com/tech_news/detail-396824.html
(the two agree on every value; the second prints TN class IV as "105", a typo for
1.5, which the first and ``../shared/domain/FACTS.md`` §3 give). Water temperature
(item 1) has no class limits and is not rated. The DO class I limit is
"饱和率90% (或7.5)": only the 7.5 mg/L form is rated here.

Each item: the five limits for classes I…V and the HJ 212-2017 code where
FACTS.md §1.9 transcribes one. All items are "value ≤ limit" except DO
("value ≥ limit") and pH (6 ≤ value ≤ 9 for every class).
"""

from __future__ import annotations

from typing import Final

PH_RANGE: Final = (6.0, 9.0)

# item: (limits I..V, HJ 212 code, aliases, unit)
UPPER_LIMITS: Final[dict[str, tuple[tuple[float, ...], str | None, tuple[str, ...], str]]] = {
    "permanganate_index": ((2, 4, 6, 10, 15), "w01019", ("codmn", "cod_mn"), "mg/L"),
    "cod": ((15, 15, 20, 30, 40), "w01018", ("cod_cr", "codcr"), "mg/L"),
    "bod5": ((3, 3, 4, 6, 10), "w01017", ("bod",), "mg/L"),
    "ammonia_nitrogen": ((0.15, 0.5, 1.0, 1.5, 2.0), "w21003", ("nh3_n", "nh3n"), "mg/L"),
    "total_phosphorus": ((0.02, 0.1, 0.2, 0.3, 0.4), "w21011", ("tp",), "mg/L"),
    "total_nitrogen": ((0.2, 0.5, 1.0, 1.5, 2.0), "w21001", ("tn",), "mg/L"),
    "copper": ((0.01, 1.0, 1.0, 1.0, 1.0), None, ("cu",), "mg/L"),
    "zinc": ((0.05, 1.0, 1.0, 2.0, 2.0), None, ("zn",), "mg/L"),
    "fluoride": ((1.0, 1.0, 1.0, 1.5, 1.5), None, ("f",), "mg/L"),
    "selenium": ((0.01, 0.01, 0.01, 0.02, 0.02), None, ("se",), "mg/L"),
    "arsenic": ((0.05, 0.05, 0.05, 0.1, 0.1), None, ("as",), "mg/L"),
    "mercury": ((0.00005, 0.00005, 0.0001, 0.001, 0.001), None, ("hg",), "mg/L"),
    "cadmium": ((0.001, 0.005, 0.005, 0.005, 0.01), None, ("cd",), "mg/L"),
    "chromium_vi": ((0.01, 0.05, 0.05, 0.05, 0.1), None, ("cr6", "cr_vi"), "mg/L"),
    "lead": ((0.01, 0.01, 0.05, 0.05, 0.1), None, ("pb",), "mg/L"),
    "cyanide": ((0.005, 0.05, 0.2, 0.2, 0.2), None, ("cn",), "mg/L"),
    "volatile_phenol": ((0.002, 0.002, 0.005, 0.01, 0.1), "w23002", ("phenol",), "mg/L"),
    "petroleum": ((0.05, 0.05, 0.05, 0.5, 1.0), "w22001", ("oil",), "mg/L"),
    "anionic_surfactant": ((0.2, 0.2, 0.2, 0.3, 0.3), None, ("las",), "mg/L"),
    "sulfide": ((0.05, 0.1, 0.2, 0.5, 1.0), None, ("s2",), "mg/L"),
    "fecal_coliform": ((200, 2000, 10000, 20000, 40000), None, ("coliform",), "个/L"),
}

# Item 8, lakes and reservoirs (湖、库): the bracketed TP limits.
TP_LAKE: Final = (0.01, 0.025, 0.05, 0.1, 0.2)

# Item 3: DO ≥ limit.
DO_LIMITS: Final = (7.5, 6, 5, 3, 2)
