"""Surface-water class per GB 3838-2002, by the single-factor method.

Layer: pure functions over numbers; no I/O.

Each item's class is the best class (I…V) whose limit the value meets; a value
that meets no limit is 劣V (worse than V). The section's class is the worst item
class, and the items at that class decide it. Total phosphorus has separate
limits for lakes and reservoirs; total nitrogen is rated for lakes and reservoirs
only (the standard gives no river limit), so for a river it is reported as not
rated and does not count towards the overall class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from fractions import Fraction
from typing import Literal

from cloud.standards.codes import ItemCodes
from cloud.standards.errors import InvalidValueError, MissingValueError
from cloud.standards.numbers import exact
from cloud.standards.water_tables import DO_LIMITS, PH_RANGE, TP_LAKE, UPPER_LIMITS

WaterBody = Literal["river", "lake"]


class WaterClass(IntEnum):
    """A class of GB 3838-2002; a higher number is worse water."""

    I = 1  # noqa: E741 - the standard's own name
    II = 2
    III = 3
    IV = 4
    V = 5
    WORSE_THAN_V = 6

    @property
    def label(self) -> str:
        """The class as the standard writes it (I…V in Latin letters, and 劣V)."""
        return "劣V" if self is WaterClass.WORSE_THAN_V else self.name

    @property
    def label_en(self) -> str:
        """The class in English."""
        return "worse than V" if self is WaterClass.WORSE_THAN_V else f"class {self.name}"

    @classmethod
    def parse(cls, text: str) -> WaterClass:
        """A class from ``I``…``V``, ``1``…``5``, ``劣V`` or ``worse_than_v``.

        Raises:
            InvalidValueError: no class is spelt that way.
        """
        key = text.strip().upper().replace(" ", "_")
        if key in ("劣V", "劣Ⅴ", "WORSE_THAN_V", "6"):
            return cls.WORSE_THAN_V
        if key.isdigit() and 1 <= int(key) <= len(cls) - 1:
            return cls(int(key))
        if key in cls.__members__:
            return cls[key]
        raise InvalidValueError("class", text, "is not a water class (I, II, III, IV, V, 劣V)")


ITEMS: Mapping[str, ItemCodes] = {
    "ph": ItemCodes(("ph_value", "water_ph"), "w01001"),
    "dissolved_oxygen": ItemCodes(("do",), "w01009"),
    **{item: ItemCodes(aliases, hj212) for item, (_, hj212, aliases, _) in UPPER_LIMITS.items()},
}
UNITS: Mapping[str, str] = {
    "ph": "",
    "dissolved_oxygen": "mg/L",
    **{item: unit for item, (*_, unit) in UPPER_LIMITS.items()},
}


@dataclass(frozen=True)
class ItemClass:
    """The class of one item; ``water_class`` is ``None`` when the item is not rated."""

    item: str
    value: float
    water_class: WaterClass | None
    note: str | None = None


@dataclass(frozen=True)
class WaterResult:
    """The class of a sample or section, and the items that decide it."""

    water_body: WaterBody
    items: tuple[ItemClass, ...]
    overall: WaterClass
    deciding: tuple[str, ...]


def limits(item: str, water_body: WaterBody = "river") -> tuple[float, ...]:
    """The five limits (classes I…V) of an item; pH has none (6-9 for every class).

    Raises:
        InvalidValueError: the item is not in Table 1 with class limits.
    """
    if item == "dissolved_oxygen":
        return DO_LIMITS
    if item == "total_phosphorus" and water_body == "lake":
        return TP_LAKE
    if item not in UPPER_LIMITS:
        raise InvalidValueError(item, item, "has no class limits in GB 3838-2002 Table 1")
    return UPPER_LIMITS[item][0]


def item_class(item: str, value: float, water_body: WaterBody = "river") -> WaterClass:
    """The class of one item's value.

    Raises:
        InvalidValueError: unknown item, or a value that is not a finite number
            (negative concentrations too; pH must lie within 0-14).
    """
    amount = exact(item, value)
    if item == "ph":
        if amount > 14:
            raise InvalidValueError(item, value, "is outside 0-14")
        low, high = (Fraction(bound) for bound in PH_RANGE)
        return WaterClass.I if low <= amount <= high else WaterClass.WORSE_THAN_V
    higher_is_better = item == "dissolved_oxygen"
    for number, limit in enumerate(limits(item, water_body), start=1):
        bound = exact(item, limit)
        if (amount >= bound) if higher_is_better else (amount <= bound):
            return WaterClass(number)
    return WaterClass.WORSE_THAN_V


def classify(values: Mapping[str, float], water_body: WaterBody = "river") -> WaterResult:
    """Class per item, the overall class (worst item) and the deciding items.

    ``values`` is keyed by the codes of :data:`ITEMS` (resolve other spellings with
    :func:`cloud.standards.codes.code_book` first).

    Raises:
        InvalidValueError: an unknown item or a value that is not a valid number.
        MissingValueError: no item could be rated.
    """
    rated: list[ItemClass] = []
    for item, value in values.items():
        if item not in ITEMS:
            raise InvalidValueError(item, value, "is not a GB 3838-2002 Table 1 item")
        if item == "total_nitrogen" and water_body == "river":
            exact(item, value)
            note = "rated for lakes and reservoirs only"
            rated.append(ItemClass(item, value, None, note))
            continue
        rated.append(ItemClass(item, value, item_class(item, value, water_body)))
    classes = [r.water_class for r in rated if r.water_class is not None]
    if not classes:
        raise MissingValueError("a rated item", "give at least one item with class limits")
    overall = max(classes)
    deciding = tuple(r.item for r in rated if r.water_class == overall)
    return WaterResult(water_body, tuple(rated), overall, deciding)


def worse_than(result: WaterResult, target: WaterClass) -> tuple[ItemClass, ...]:
    """The rated items of ``result`` whose class is worse than ``target`` (a site's goal)."""
    return tuple(
        item for item in result.items if item.water_class is not None and item.water_class > target
    )


# 《地表水环境质量评价办法(试行)》(环办[2011]22号), as reproduced at
# https://news.bjx.com.cn/html/20110402/276570-2.shtml: the qualitative status of
# a class (I-II 优, III 良好, IV 轻度污染, V 中度污染, 劣V 重度污染; also
# http://m.ipa361.com/index.php/Home/Baike/baikeshow/did/2363638.html), and the
# main pollutants (主要污染指标) of a section worse than class III: the three items
# of the worst classes, ties broken by the exceedance multiple over the class III
# limit, cyanide and heavy metals first; water temperature, pH and DO get no multiple.
STATUS: Mapping[WaterClass, tuple[str, str]] = {
    WaterClass.I: ("优", "excellent"),
    WaterClass.II: ("优", "excellent"),
    WaterClass.III: ("良好", "good"),
    WaterClass.IV: ("轻度污染", "lightly polluted"),
    WaterClass.V: ("中度污染", "moderately polluted"),
    WaterClass.WORSE_THAN_V: ("重度污染", "heavily polluted"),
}
PRIORITY_ITEMS = ("cyanide", "lead", "chromium_vi", "mercury", "cadmium", "arsenic", "copper")
NO_MULTIPLE = ("ph", "dissolved_oxygen")
MAIN_POLLUTANTS_MAX = 3


@dataclass(frozen=True)
class MainPollutant:
    """A main pollutant of a section, with its exceedance multiple (``None`` for pH, DO)."""

    item: str
    water_class: WaterClass
    multiple: float | None


def exceedance_multiple(
    item: str, value: float, water_body: WaterBody = "river", reference: WaterClass = WaterClass.III
) -> float | None:
    """超标倍数: how many times ``value`` exceeds the ``reference`` class limit, or ``None``.

    ``None`` when the value is within that limit, and for pH and DO (no multiple).

    Raises:
        InvalidValueError: an item without limits or a value that is not a valid number.
    """
    if item in NO_MULTIPLE:
        exact(item, value)
        return None
    limit = exact(item, limits(item, water_body)[reference - 1])
    over = (exact(item, value) - limit) / limit
    return float(over) if over > 0 else None


def main_pollutants(
    result: WaterResult, reference: WaterClass = WaterClass.III
) -> tuple[MainPollutant, ...]:
    """The (at most three) main pollutants of a result worse than ``reference``."""
    if result.overall <= reference:
        return ()
    over = [
        MainPollutant(
            i.item,
            i.water_class,
            exceedance_multiple(i.item, i.value, result.water_body, reference),
        )
        for i in result.items
        if i.water_class is not None and i.water_class > reference
    ]
    over.sort(key=lambda p: (p.item not in PRIORITY_ITEMS, -p.water_class, -(p.multiple or 0)))
    return tuple(over[:MAIN_POLLUTANTS_MAX])
