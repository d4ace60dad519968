"""HJ 212 platform commands (1011/1012/1061/1062) and the exchange that answers them."""

from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire import Hj212Error
from wire.hj212 import (
    CN_GET_RTD_INTERVAL,
    CN_GET_TIME,
    CN_SET_RTD_INTERVAL,
    CN_SET_TIME,
    CommandExchange,
    ExeRtn,
    Packet,
    QnRtn,
    command_packet,
    encode_packet,
    execution_result,
    format_system_time,
    parse_system_time,
    request_response,
)

MN = "010000A8900016F000169DC0"


def test_our_1062_reproduces_the_public_example_byte_for_byte() -> None:
    # the set-interval example transcribed in the project's domain facts (§1.4),
    # as published with the standard's examples and by public implementations
    expected = (
        b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
        b"Flag=5;CP=&&RtdInterval=30&&1C80\r\n"
    )
    packet = command_packet(
        CN_SET_RTD_INTERVAL, st="32", pw="100000", mn=MN, qn="20160801085857223", value="30"
    )
    assert encode_packet(packet, None) == expected


def test_commands_check_their_value() -> None:
    common = {"st": "22", "pw": "123456", "mn": MN, "qn": "20260601120000000"}
    assert command_packet(CN_GET_TIME, **common).cp == ""
    assert command_packet(CN_SET_TIME, value="20260601120000", **common).cp == (
        "SystemTime=20260601120000"
    )
    for cn, value, words in (
        (CN_GET_TIME, "1", "takes no value"),
        (CN_SET_TIME, None, "needs a value"),
        (CN_SET_TIME, "2026-06-01", "YYYYMMDDhhmmss"),
        (CN_SET_RTD_INTERVAL, "0", "at least 1"),
        ("2011", None, "not a command"),
    ):
        with pytest.raises(Hj212Error, match=words):
            command_packet(cn, value=value, **common)


def _exchange(cn: str = CN_GET_RTD_INTERVAL) -> CommandExchange:
    command = command_packet(cn, st="22", pw="123456", mn=MN, qn="20260601120000000")
    return CommandExchange(command)


def test_an_exchange_ends_with_the_9012_or_a_refusing_9011() -> None:
    exchange = _exchange()
    exchange.feed(request_response(exchange.command))
    assert not exchange.done
    answer = Packet(st="22", cn=CN_GET_RTD_INTERVAL, pw="123456", mn=MN,
                    cp="RtdInterval=30", qn=exchange.command.qn)  # fmt: skip
    assert exchange.belongs(answer)
    exchange.feed(answer)
    exchange.feed(execution_result(exchange.command, ExeRtn.SUCCESS))
    assert (exchange.done, exchange.succeeded, exchange.values) == (
        True,
        True,
        {"RtdInterval": "30"},
    )
    refused = _exchange()
    refused.feed(request_response(refused.command, QnRtn.PW_ERROR))
    assert (refused.done, refused.succeeded, refused.qn_rtn) == (True, False, 3)
    other = Packet(st="91", cn="9011", pw="1", mn=MN, cp="QnRtn=1", qn="20260601120000001")
    assert not refused.belongs(other)


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)))
def test_system_time_round_trip(when: datetime) -> None:
    when = when.replace(microsecond=0)
    assert parse_system_time(format_system_time(when)) == when
