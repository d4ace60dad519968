"""HJ 212 (2017 and 2025 editions): the protocol of China's environmental monitoring platforms.

Layer: sans-IO codecs (see the modules). ``packet`` frames, header fields, Flag,
CRC and SM4 (over ``model``, ``head``, ``framing``); ``cp`` the data area;
``messages`` the answers and split uploads; ``commands`` the platform's commands.
"""

from wire.hj212.commands import (
    CN_GET_RTD_INTERVAL,
    CN_GET_TIME,
    CN_SET_RTD_INTERVAL,
    CN_SET_TIME,
    COMMANDS,
    CommandExchange,
    command_packet,
    format_system_time,
    parse_system_time,
)
from wire.hj212.cp import (
    CN_DAILY,
    CN_HOURLY,
    CN_MINUTE,
    CN_REALTIME,
    DATA_CNS,
    DATA_FLAGS,
    Cp,
    DataItem,
    data_cp,
    format_cp,
    parse_cp,
)
from wire.hj212.crc import crc16, crc16_hex
from wire.hj212.framing import next_frame, peek_mn
from wire.hj212.messages import (
    CN_DATA_RESPONSE,
    CN_EXECUTION_RESULT,
    CN_REQUEST_RESPONSE,
    ExeRtn,
    QnRtn,
    answers,
    data_response,
    execution_result,
    join_packets,
    request_response,
    split_upload,
)
from wire.hj212.model import MAX_FRAME, MAX_SEGMENT, CipherForm, Edition, Packet, PeerCipher
from wire.hj212.packet import Frame, decode_packet, encode_packet, parse_packet

__all__ = [
    "CN_DAILY",
    "CN_DATA_RESPONSE",
    "CN_EXECUTION_RESULT",
    "CN_GET_RTD_INTERVAL",
    "CN_GET_TIME",
    "CN_HOURLY",
    "CN_MINUTE",
    "CN_REALTIME",
    "CN_REQUEST_RESPONSE",
    "CN_SET_RTD_INTERVAL",
    "CN_SET_TIME",
    "COMMANDS",
    "DATA_CNS",
    "DATA_FLAGS",
    "MAX_FRAME",
    "MAX_SEGMENT",
    "CipherForm",
    "CommandExchange",
    "Cp",
    "DataItem",
    "Edition",
    "ExeRtn",
    "Frame",
    "Packet",
    "PeerCipher",
    "QnRtn",
    "answers",
    "command_packet",
    "crc16",
    "crc16_hex",
    "data_cp",
    "data_response",
    "decode_packet",
    "encode_packet",
    "execution_result",
    "format_cp",
    "format_system_time",
    "join_packets",
    "next_frame",
    "parse_cp",
    "parse_packet",
    "parse_system_time",
    "peek_mn",
    "request_response",
    "split_upload",
]
