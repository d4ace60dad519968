"""Answers to HJ 212 packets and split uploads."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.wire.hj212.strategies import data_items
from wire.errors import Hj212Error
from wire.hj212 import (
    MAX_SEGMENT,
    Cp,
    DataItem,
    Edition,
    ExeRtn,
    Packet,
    QnRtn,
    answers,
    data_response,
    decode_packet,
    encode_packet,
    execution_result,
    join_packets,
    request_response,
    split_upload,
)

UPLOAD = Packet(
    st="21",
    cn="2061",
    pw="123456",
    mn="WQ0001EXAMPLE00000000001",
    qn="20240601130001000",
    ack=True,
)


def test_data_response_reproduces_the_published_9014() -> None:
    # FACTS.md §1.4 (CRC re-computed with the standard's algorithm): ST=91, same QN, empty CP
    expected = (
        b"##0087QN=20240601130001000;ST=91;CN=9014;PW=123456;MN=WQ0001EXAMPLE00000000001;"
        b"Flag=4;CP=&&&&3840\r\n"
    )
    response = data_response(UPLOAD)
    assert encode_packet(response) == expected
    assert answers(response, UPLOAD)
    assert not answers(response, dataclasses.replace(UPLOAD, qn="20240601130002000"))


def test_request_response_and_execution_result() -> None:
    command = dataclasses.replace(UPLOAD, cn="1062", cp="RtdInterval=30")
    assert request_response(command, QnRtn.PW_ERROR).cp == "QnRtn=3"
    assert request_response(command).cn == "9011"
    assert execution_result(command, ExeRtn.NO_DATA).cp == "ExeRtn=100"
    v2025 = dataclasses.replace(command, edition=Edition.HJ212_2025)
    assert data_response(v2025).flag == 8


@given(items=st.lists(data_items(), min_size=1, max_size=60, unique_by=lambda i: i.code))
def test_split_then_join_gives_back_the_upload(items: list[DataItem]) -> None:
    cp = Cp((("DataTime", "20240601120000"),), tuple(items))
    parts = split_upload(UPLOAD, cp)
    for part in parts:
        data = encode_packet(part)
        assert len(data) - 12 <= MAX_SEGMENT
        assert decode_packet(data) == part
    if len(parts) == 1:
        assert parts[0].pnum is None
        return
    assert [p.pno for p in parts] == list(range(1, len(parts) + 1))
    assert {p.qn for p in parts} == {UPLOAD.qn}
    header, joined = join_packets(list(reversed(parts)))
    assert joined == cp
    assert header.pno == 1


def test_a_large_upload_is_split() -> None:
    items = tuple(DataItem(f"a{i:05d}", (("Avg", "123.456"), ("Flag", "N"))) for i in range(40))
    parts = split_upload(UPLOAD, Cp((("DataTime", "20240601120000"),), items))
    assert len(parts) >= 2
    assert all(p.flag == 7 for p in parts)  # 2017, PNUM/PNO present, answer wanted


def test_join_refuses_missing_or_foreign_parts() -> None:
    items = tuple(DataItem(f"a{i:05d}", (("Avg", "123.456"),)) for i in range(60))
    parts = split_upload(UPLOAD, Cp((("DataTime", "20240601120000"),), items))
    with pytest.raises(Hj212Error, match="do not make PNO"):
        join_packets(parts[1:])
    with pytest.raises(Hj212Error, match="belongs to another upload"):
        join_packets([parts[0], dataclasses.replace(parts[1], mn="OTHER")])
    with pytest.raises(Hj212Error, match="not part of a split upload"):
        join_packets([UPLOAD])
