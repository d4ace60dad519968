"""Codes of quantities.yaml, aliases and HJ 212 codes all name the standards' items."""

from __future__ import annotations

import pytest

from cloud.standards.aqi import POLLUTANTS
from cloud.standards.codes import code_book
from cloud.standards.errors import UnknownCodeError
from cloud.standards.water import ITEMS
from device_profiles import Quantity, load_quantities


def test_air_codes_of_the_vocabulary_and_hj212() -> None:
    book = code_book(POLLUTANTS, load_quantities())
    assert book.resolve("pm2_5") == "pm2_5"
    assert book.resolve("PM2.5") == "pm2_5"
    assert book.resolve("a34004") == "pm2_5"
    assert book.resolve("A05024") == "o3"
    assert book.resolve("o3-8h") == "o3_8h"
    for quantity in load_quantities().values():
        if quantity.hj212 is not None and quantity.hj212 in {c.hj212 for c in POLLUTANTS.values()}:
            assert book.resolve(quantity.code) in POLLUTANTS


def test_water_aliases() -> None:
    book = code_book(ITEMS)
    assert book.resolve("do") == "dissolved_oxygen"
    assert book.resolve("w21003") == "ammonia_nitrogen"
    assert book.resolve("CODMn") == "permanganate_index"
    assert book.resolve("water_ph") == "ph"


def test_a_vocabulary_name_reaches_the_item_through_its_hj212_code() -> None:
    vocabulary = {
        "oxygen_dissolved": Quantity(
            code="oxygen_dissolved", name="DO", unit="mg/L", min=0, max=20, hj212="w01009"
        )
    }
    assert code_book(ITEMS, vocabulary).resolve("oxygen_dissolved") == "dissolved_oxygen"


def test_unknown_code_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodeError, match="pm2_5") as caught:
        code_book(POLLUTANTS).resolve("pm25x")
    assert caught.value.code == "pm25x"
