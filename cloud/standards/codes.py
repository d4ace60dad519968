"""Which quantity codes name which item of a standard.

Layer: pure lookup; no I/O. The vocabulary (``device_profiles/quantities.yaml``)
is passed in by the caller, never read here.

A standard's items are named by their own code (``pm2_5``, ``dissolved_oxygen``)
and a few aliases (``pm25``, ``do``); the HJ 212-2017 factor code (``a34004``) is
accepted too. The built-in HJ 212 codes below are those transcribed in
``../shared/domain/FACTS.md`` §1.9. When the vocabulary is given, each of its
quantities that carries an HJ 212 code of an item also names that item, so a
quantity added to ``quantities.yaml`` under another name still resolves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from cloud.standards.errors import UnknownCodeError


class VocabularyEntry(Protocol):
    """What this module reads of a ``quantities.yaml`` entry (``device_profiles.Quantity``)."""

    @property
    def code(self) -> str:
        """The canonical quantity code."""
        ...

    @property
    def hj212(self) -> str | None:
        """The HJ 212 factor code, where one exists."""
        ...


@dataclass(frozen=True)
class ItemCodes:
    """The other names of one item: aliases and its HJ 212-2017 factor code."""

    aliases: tuple[str, ...] = ()
    hj212: str | None = None


@dataclass(frozen=True)
class CodeBook:
    """Resolves any accepted spelling of an item to the item's own code."""

    names: Mapping[str, str]
    items: tuple[str, ...]

    def resolve(self, code: str) -> str:
        """The item ``code`` names.

        Raises:
            UnknownCodeError: no item answers to ``code``.
        """
        item = self.names.get(_key(code))
        if item is None:
            raise UnknownCodeError(code, list(self.items))
        return item


def code_book(
    items: Mapping[str, ItemCodes], vocabulary: Mapping[str, VocabularyEntry] | None = None
) -> CodeBook:
    """A :class:`CodeBook` for ``items``, widened by the quantities of ``vocabulary``."""
    names: dict[str, str] = {}
    by_hj212 = {codes.hj212: item for item, codes in items.items() if codes.hj212}
    for quantity in (vocabulary or {}).values():
        item = by_hj212.get(quantity.hj212) if quantity.hj212 else None
        if item is not None:
            names[_key(quantity.code)] = item
    for item, codes in items.items():
        for name in (*codes.aliases, *((codes.hj212,) if codes.hj212 else ())):
            names[_key(name)] = item
        names[_key(item)] = item  # an item's own code always wins
    return CodeBook(names=names, items=tuple(items))


def _key(code: str) -> str:
    return code.strip().lower().replace("-", "_").replace(".", "_")
