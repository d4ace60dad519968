"""The CP data area of an HJ 212 packet: parameters and data items.

Layer: pure functions over text. ``parse_cp`` reads the text between ``CP=&&``
and ``&&``; ``format_cp`` writes it. ``format_cp`` then ``parse_cp`` gives back
what went in; a packet keeps its CP text verbatim, so a parsed packet is always
re-encoded byte for byte whatever its layout.

Layout (HJ 212-2017 §6.3.3; unchanged in 2025)::

    DataTime=20240601120000;a34004-Rtd=35,a34004-Flag=N;a21026-Avg=8,a21026-Flag=N

``;`` separates groups, ``,`` the fields of one group, ``=`` a key from its
value. A key ``<code>-<suffix>`` is a field of the data item ``code`` (a
pollutant or parameter code such as ``a34004`` or ``w01001``); any other key is
a parameter (``DataTime``, ``QnRtn``, ``ExeRtn``, ``RtdInterval`` ...). Suffixes
used by the data uploads: ``Rtd`` (real-time, CN 2011), ``Avg``/``Min``/``Max``/
``Cou`` (minute 2051, hourly 2061, daily 2031), ``Flag`` (the data flag,
N F M S D C T B), ``SampleTime``, ``EFlag``, ``ZsRtd``/``ZsAvg``/... (converted).

Values stay text: ``7.40`` must come back as ``7.40``, not ``7.4``.
``DataTime`` is the station's local time (Beijing time in China), ``YYYYMMDDhhmmss``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from wire.errors import Hj212Error

CN_REALTIME = "2011"
CN_DAILY = "2031"
CN_MINUTE = "2051"
CN_HOURLY = "2061"
DATA_CNS = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg", CN_HOURLY: "Avg", CN_DAILY: "Avg"}
"""Data upload commands and the suffix that carries each one's main value."""

DATA_FLAGS = frozenset("NFMSDCTB")

_KEY = re.compile(r"[A-Za-z][A-Za-z0-9]{0,31}")
_CODE = re.compile(r"[A-Za-z0-9]{1,16}")
_VALUE = re.compile(r"[ -%'-+\--:<>-~]{0,64}")  # printable ASCII without ; = & ,
_DATA_TIME = re.compile(
    r"20[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])([01][0-9]|2[0-3])[0-5][0-9][0-5][0-9]"
)


@dataclass(frozen=True, slots=True)
class DataItem:
    """The fields of one pollutant or parameter code, in the order they came."""

    code: str
    fields: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not isinstance(self.code, str) or not _CODE.fullmatch(self.code):
            raise Hj212Error(f"data item code {str(self.code)[:20]!r} must be 1-16 letters/digits")
        if not self.fields:
            raise Hj212Error(f"data item {self.code} has no field")
        seen: set[str] = set()
        for suffix, value in self.fields:
            _check_key(f"{self.code}-{suffix}", suffix)
            _check_value(f"{self.code}-{suffix}", value)
            if suffix in seen:
                raise Hj212Error(f"{self.code}-{suffix} appears twice")
            seen.add(suffix)

    def get(self, suffix: str) -> str | None:
        """The text of field ``suffix`` (``Rtd``, ``Avg``, ``Flag`` ...), or None."""
        return next((value for key, value in self.fields if key == suffix), None)

    def number(self, suffix: str) -> float | None:
        """Field ``suffix`` as a finite number, None when absent.

        Raises:
            Hj212Error: the field is present but not a finite number.
        """
        text = self.get(suffix)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            raise Hj212Error(f"{self.code}-{suffix}={text[:20]!r} is not a number") from None
        if not math.isfinite(value) or not re.fullmatch(r"[-+]?[0-9.eE+-]+", text):
            raise Hj212Error(f"{self.code}-{suffix}={text[:20]!r} is not a number")
        return value

    @property
    def flag(self) -> str | None:
        """The data flag (``N`` normal, ``D`` fault ...), None when absent."""
        return self.get("Flag")


@dataclass(frozen=True, slots=True)
class Cp:
    """Parameters (``DataTime``, ``QnRtn`` ...) and data items of a CP area."""

    params: tuple[tuple[str, str], ...] = ()
    items: tuple[DataItem, ...] = ()

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for key, value in self.params:
            _check_key(key, key)
            _check_value(key, value)
            if key in seen:
                raise Hj212Error(f"parameter {key} appears twice")
            seen.add(key)
        codes = [item.code for item in self.items]
        if len(set(codes)) != len(codes):
            raise Hj212Error("a data item code appears twice")

    def param(self, key: str) -> str | None:
        """The value of parameter ``key``, or None."""
        return next((value for name, value in self.params if name == key), None)

    @property
    def data_time(self) -> str | None:
        """``DataTime`` (local time, YYYYMMDDhhmmss), None when absent."""
        return self.param("DataTime")


def format_cp(cp: Cp) -> str:
    """Write ``cp`` as CP text: parameters first, then one group per data item."""
    groups = [f"{key}={value}" for key, value in cp.params]
    groups += [",".join(f"{i.code}-{k}={v}" for k, v in i.fields) for i in cp.items]
    return ";".join(groups)


def parse_cp(text: str) -> Cp:
    """Read CP text into parameters and data items.

    Raises:
        Hj212Error: a field without '=', a bad key or value, a field given twice.
    """
    params: list[tuple[str, str]] = []
    items: dict[str, list[tuple[str, str]]] = {}
    for group in text.split(";"):
        if not group:
            continue
        for field in group.split(","):
            key, sep, value = field.partition("=")
            if not sep:
                raise Hj212Error(f"CP field {field[:30]!r} lacks '='")
            code, dash, suffix = key.partition("-")
            if dash:
                items.setdefault(code, []).append((suffix, value))
            else:
                params.append((key, value))
    return Cp(tuple(params), tuple(DataItem(code, tuple(f)) for code, f in items.items()))


def data_cp(data_time: str, items: tuple[DataItem, ...]) -> str:
    """CP text of a data upload (2011/2051/2061/2031): ``DataTime`` then the items.

    Raises:
        Hj212Error: ``data_time`` is not YYYYMMDDhhmmss, or an item is invalid.
    """
    if not isinstance(data_time, str) or not _DATA_TIME.fullmatch(data_time):
        raise Hj212Error(f"DataTime must be YYYYMMDDhhmmss, got {str(data_time)[:20]!r}")
    return format_cp(Cp((("DataTime", data_time),), items))


def _check_key(where: str, key: object) -> None:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise Hj212Error(f"CP key {where[:40]!r} must be a letter then up to 31 letters/digits")


def _check_value(where: str, value: object) -> None:
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise Hj212Error(
            f"CP value of {where[:40]} must be up to 64 printable characters "
            "without ';', '=', '&' or ','"
        )
