"""Vendors' worked examples (tests/vectors/manuals.yaml) decoded with the library's profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from device_profiles import builtin_profile, decode_point, load_quantities
from device_profiles.ascii import checksum
from device_profiles.measure import to_canonical

VECTORS: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parents[1] / "vectors" / "manuals.yaml").read_text(encoding="utf-8")
)["vectors"]


def _frame(text: str) -> bytes:
    frame = bytes.fromhex(text)
    body, crc = frame[:-2], int.from_bytes(frame[-2:], "little")
    assert checksum("crc16_modbus", body) == crc, f"CRC of {text}"
    return body


def _registers(vector: dict[str, Any]) -> tuple[int, int, list[int]]:
    """(function code, start register, registers) of the vector."""
    if "registers" in vector:
        return 3, vector["start"], list(vector["registers"])
    request = _frame(vector["request"])
    response = _frame(vector["response"])
    assert response[0] == request[0]
    assert response[1] == request[1]
    data = response[3:]
    assert response[2] == len(data)
    words = [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    return request[1], int.from_bytes(request[2:4], "big"), words


@pytest.mark.parametrize("vector", VECTORS, ids=[v["id"] for v in VECTORS])
def test_manual_example_decodes_to_the_stated_values(vector: dict[str, Any]) -> None:
    profile = builtin_profile(vector["model"])
    quantities = load_quantities()
    function_code, start, registers = _registers(vector)
    if "request" in vector:
        assert function_code == profile.point(next(iter(vector["values"]))).function_code
    for name, expected in vector["values"].items():
        point = profile.point(name)
        offset = point.address - start
        own = decode_point(point, registers[offset : offset + point.register_count])
        value = to_canonical(point, quantities[point.quantity], own)
        assert value == pytest.approx(expected, rel=vector.get("rel_tol", 1e-9)), name
