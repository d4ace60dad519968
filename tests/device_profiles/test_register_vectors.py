"""Golden register vectors (tests/vectors/registers.yaml), decoded and encoded."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from device_profiles import DataType, InvalidRawError, Point, decode_point, encode_point

VECTORS_PATH = Path(__file__).parents[1] / "vectors" / "registers.yaml"
VECTORS: list[dict[str, Any]] = yaml.safe_load(VECTORS_PATH.read_text(encoding="utf-8"))["vectors"]
DECODABLE = [v for v in VECTORS if "raises" not in v]
INVALID = [v for v in VECTORS if v.get("raises") == "invalid_raw"]


def _point(vector: dict[str, Any]) -> Point:
    return Point(
        name="p",
        quantity="q",
        address=0,
        data_type=vector["data_type"],
        scale=vector.get("scale", 1.0),
        offset=vector.get("offset", 0.0),
        word_order=vector.get("word_order", "big"),
        byte_order=vector.get("byte_order", "big"),
        invalid_raw=tuple(vector.get("invalid_raw", ())),
    )


def _struct_oracle(vector: dict[str, Any]) -> tuple[int, ...]:
    """Registers for ``vector`` built straight from struct and the ABCD letter orders."""
    data_type = DataType(vector["data_type"])
    scaled = (vector["value"] - vector.get("offset", 0.0)) / vector.get("scale", 1.0)
    raw = scaled if data_type.is_float else round(scaled)
    data = struct.pack(">" + data_type.struct_code, raw)
    pairs = [data[i : i + 2] for i in range(0, len(data), 2)]
    if vector.get("word_order", "big") == "little":
        pairs.reverse()
    if vector.get("byte_order", "big") == "little":
        pairs = [pair[::-1] for pair in pairs]
    return tuple(int.from_bytes(pair, "big") for pair in pairs)


def test_vector_file_is_well_formed() -> None:
    ids = [v["id"] for v in VECTORS]
    assert len(ids) == len(set(ids)), "vector ids must be unique"
    for vector in VECTORS:
        assert len(vector["registers"]) == DataType(vector["data_type"]).register_count
        assert all(0 <= word <= 0xFFFF for word in vector["registers"])
    covered = {
        (v["data_type"], v.get("word_order", "big"), v.get("byte_order", "big")) for v in VECTORS
    }
    for order in [("big", "big"), ("little", "big"), ("big", "little")]:
        assert ("float32", *order) in covered, f"float32 {order} has no vector"


@pytest.mark.parametrize("vector", DECODABLE, ids=[v["id"] for v in DECODABLE])
def test_decode_vector(vector: dict[str, Any]) -> None:
    registers = list(vector["registers"])
    assert decode_point(_point(vector), registers) == vector["value"]
    assert registers == vector["registers"], "decode_point mutated its input"


@pytest.mark.parametrize("vector", DECODABLE, ids=[v["id"] for v in DECODABLE])
def test_encode_vector(vector: dict[str, Any]) -> None:
    assert encode_point(_point(vector), vector["value"]) == tuple(vector["registers"])


@pytest.mark.parametrize("vector", DECODABLE, ids=[v["id"] for v in DECODABLE])
def test_vector_agrees_with_struct(vector: dict[str, Any]) -> None:
    assert _struct_oracle(vector) == tuple(vector["registers"])


@pytest.mark.parametrize("vector", INVALID, ids=[v["id"] for v in INVALID])
def test_invalid_raw_vector(vector: dict[str, Any]) -> None:
    point = _point(vector)
    with pytest.raises(InvalidRawError, match="means no valid measurement") as info:
        decode_point(point, vector["registers"])
    assert info.value.point == point
    assert info.value.raw in point.invalid_raw


def test_jxct_example_from_facts() -> None:
    """FACTS.md §5: the JXCT T/H note's worked example, raw 0xFF9B at scale 0.1."""
    point = Point(
        name="temperature", quantity="air_temperature", address=1, data_type="int16", scale=0.1
    )
    assert decode_point(point, [0xFF9B]) == -10.1
    assert encode_point(point, -10.1) == (0xFF9B,)
