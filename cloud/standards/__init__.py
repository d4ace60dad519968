"""China's environmental standards as pure functions: AQI, surface-water class, noise.

Layer: pure calculations; no I/O, no database, no third-party services. The API
applies them per station and period; ``shanshui standards …`` applies them to
numbers typed by hand.

* :mod:`cloud.standards.aqi` - HJ 633-2012 air quality index (tables in ``aqi_tables``)
* :mod:`cloud.standards.averages` - the means behind it, with GB 3095-2012 validity
* :mod:`cloud.standards.aqi_reports` - a station's daily and real-time AQI from hourly means
* :mod:`cloud.standards.water` - GB 3838-2002 surface-water class (tables in ``water_tables``)
* :mod:`cloud.standards.noise` - GB 3096-2008 Ld, Ln, Ldn and zone limits
* :mod:`cloud.standards.codes` - quantity codes, aliases and HJ 212 codes of the items
* :mod:`cloud.standards.report` - results as dictionaries for JSON
"""

from cloud.standards.aqi import AqiResult, Level, SubIndex, air_quality_index, iaqi, level_of
from cloud.standards.aqi_reports import Report, daily_report, hourly_report
from cloud.standards.averages import daily_max_8h, daily_mean, rolling_8h
from cloud.standards.errors import (
    InvalidValueError,
    MissingValueError,
    StandardsError,
    UnknownCodeError,
)
from cloud.standards.noise import DayNight, NoiseAssessment, assess, day_night, ldn, leq
from cloud.standards.water import WaterClass, WaterResult, classify, item_class

__all__ = [
    "AqiResult",
    "DayNight",
    "InvalidValueError",
    "Level",
    "MissingValueError",
    "NoiseAssessment",
    "Report",
    "StandardsError",
    "SubIndex",
    "UnknownCodeError",
    "WaterClass",
    "WaterResult",
    "air_quality_index",
    "assess",
    "classify",
    "daily_max_8h",
    "daily_mean",
    "daily_report",
    "day_night",
    "hourly_report",
    "iaqi",
    "item_class",
    "ldn",
    "leq",
    "level_of",
    "rolling_8h",
]
