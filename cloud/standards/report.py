"""The results of the standards as plain dictionaries, for JSON (CLI and API alike).

Layer: pure conversion; no I/O. Keys are stable: the API documents them.
"""

from __future__ import annotations

from typing import Any

from cloud.standards.aqi import UNITS as AIR_UNITS
from cloud.standards.aqi import AqiResult, Level
from cloud.standards.noise import DayNight, NoiseAssessment
from cloud.standards.water import STATUS, WaterClass, WaterResult, main_pollutants
from cloud.standards.water import UNITS as WATER_UNITS


def level_dict(level: Level) -> dict[str, Any]:
    """An AQI level with its category and colour."""
    return {
        "level": level.number,
        "name": level.name,
        "roman": level.roman,
        "category": level.category,
        "category_en": level.category_en,
        "colour": level.colour_name,
        "rgb": list(level.rgb),
        "hex": level.hex,
    }


def aqi_dict(result: AqiResult) -> dict[str, Any]:
    """An AQI result: each IAQI, the AQI, level, primary and exceeding pollutants."""
    return {
        "standard": "HJ 633-2012",
        "mode": result.mode,
        "iaqi": [
            {
                "pollutant": sub.pollutant,
                "concentration": sub.concentration,
                "unit": AIR_UNITS[sub.pollutant],
                "iaqi": sub.iaqi,
                "beyond_scale": sub.beyond_scale,
                "note": sub.note,
            }
            for sub in result.sub_indices
        ],
        "aqi": result.aqi,
        **level_dict(result.level),
        "primary_pollutants": list(result.primary),
        "exceeding_pollutants": list(result.exceeding),
    }


def class_dict(water_class: WaterClass | None) -> str | None:
    """A water class as the standard writes it (``III``, ``劣V``)."""
    return None if water_class is None else water_class.label


def water_dict(result: WaterResult, target: WaterClass | None = None) -> dict[str, Any]:
    """A water result: class per item, overall class, deciding items (and the target's)."""
    out: dict[str, Any] = {
        "standard": "GB 3838-2002",
        "water_body": result.water_body,
        "items": [
            {
                "item": item.item,
                "value": item.value,
                "unit": WATER_UNITS[item.item],
                "class": class_dict(item.water_class),
                "note": item.note,
            }
            for item in result.items
        ],
        "class": result.overall.label,
        "class_en": result.overall.label_en,
        "status": STATUS[result.overall][0],
        "status_en": STATUS[result.overall][1],
        "deciding_items": list(result.deciding),
        "main_pollutants": [
            {"item": p.item, "class": p.water_class.label, "multiple": _multiple(p.multiple)}
            for p in main_pollutants(result)
        ],
    }
    if target is not None:
        out["target_class"] = target.label
        out["meets_target"] = result.overall <= target
    return out


def noise_dict(assessment: NoiseAssessment, levels: DayNight | None = None) -> dict[str, Any]:
    """A noise assessment, with the levels computed from readings when there are some."""
    out: dict[str, Any] = {
        "standard": "GB 3096-2008",
        "zone": assessment.zone,
        "day_limit_db": assessment.day_limit,
        "night_limit_db": assessment.night_limit,
        "night_max_limit_db": assessment.night_max_limit,
        "ld_db": _db(assessment.ld),
        "ln_db": _db(assessment.ln),
        "lmax_night_db": _db(assessment.lmax_night),
        "day_exceedance_db": assessment.day_exceedance_db,
        "night_exceedance_db": assessment.night_exceedance_db,
        "night_max_exceedance_db": assessment.night_max_exceedance_db,
        "exceeds": assessment.exceeds,
    }
    if levels is not None:
        out |= {
            "ldn_db": _db(levels.ldn),
            "day_readings": levels.day_count,
            "night_readings": levels.night_count,
        }
    return out


def _db(level: float | None) -> float | None:
    """Levels are reported to 0.1 dB."""
    return None if level is None else round(level, 1)


def _multiple(multiple: float | None) -> float | None:
    """Exceedance multiples are published to two decimals at most (e.g. 氨氮/1.3)."""
    return None if multiple is None else round(multiple, 2)
