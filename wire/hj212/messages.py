"""HJ 212 exchanges: data uploads, the answers to them, and split packets.

Layer: pure functions from packets to packets; no I/O, no clock (the caller
passes QN and DataTime).

Exchanges (HJ 212-2017 §7, kept by 2025):

- a data upload (CN 2011/2051/2061/2031) with the answer bit set is answered
  by a *data response* ``ST=91;CN=9014`` carrying the same QN (``CP=&&&&``);
- a platform command is answered by a *request response* ``CN=9011`` with
  ``QnRtn`` (1 ready ... 9 CRC error), then, after execution, an *execution
  result* ``CN=9012`` with ``ExeRtn`` (1 success ... 100 no data).

A data segment longer than 1024 characters is sent as several packets with
``PNUM`` (how many) and ``PNO`` (which, from 1), all with the same QN. How the
CP is divided is not fixed by the text we could check; we repeat the
parameters (``DataTime``) in every part and divide the data items, so that each
part is a valid upload on its own [convention, unverified against the PDF].
"""

from __future__ import annotations

import dataclasses
from enum import IntEnum

from wire.errors import Hj212Error
from wire.hj212.cp import Cp, format_cp, parse_cp
from wire.hj212.model import MAX_CP, MAX_SEGMENT, Packet

ST_SYSTEM = "91"
CN_REQUEST_RESPONSE = "9011"
CN_EXECUTION_RESULT = "9012"
CN_DATA_RESPONSE = "9014"
RESPONSE_CNS = frozenset({CN_REQUEST_RESPONSE, CN_EXECUTION_RESULT, CN_DATA_RESPONSE})


class QnRtn(IntEnum):
    """Request response codes (CN 9011)."""

    READY = 1
    REJECTED = 2
    PW_ERROR = 3
    MN_ERROR = 4
    ST_ERROR = 5
    FLAG_ERROR = 6
    QN_ERROR = 7
    CN_ERROR = 8
    CRC_ERROR = 9
    UNKNOWN = 100


class ExeRtn(IntEnum):
    """Execution result codes (CN 9012)."""

    SUCCESS = 1
    FAILED = 2
    BAD_CONDITION = 3
    TIMEOUT = 4
    BUSY = 5
    SYSTEM_FAULT = 6
    NO_DATA = 100


def data_response(request: Packet) -> Packet:
    """The 9014 answer to a data upload: same QN, PW, MN and edition, empty CP."""
    return _answer(request, CN_DATA_RESPONSE, "")


def request_response(request: Packet, code: QnRtn = QnRtn.READY) -> Packet:
    """The 9011 answer to a command (or to a refused packet): ``QnRtn=<code>``."""
    return _answer(request, CN_REQUEST_RESPONSE, f"QnRtn={int(code)}")


def execution_result(request: Packet, code: ExeRtn = ExeRtn.SUCCESS) -> Packet:
    """The 9012 report after executing a command: ``ExeRtn=<code>``."""
    return _answer(request, CN_EXECUTION_RESULT, f"ExeRtn={int(code)}")


def answers(response: Packet, request: Packet) -> bool:
    """Whether ``response`` is an answer (9011/9012/9014) to ``request`` (same QN and MN)."""
    return (
        response.cn in RESPONSE_CNS
        and request.qn is not None
        and response.qn == request.qn
        and response.mn == request.mn
    )


def split_upload(header: Packet, cp: Cp, max_segment: int = MAX_SEGMENT) -> tuple[Packet, ...]:
    """The packets that carry ``cp`` under ``header`` (its QN, CN, MN ...; its CP is ignored).

    One packet without PNUM/PNO when it fits, else parts numbered 1..PNUM.

    Raises:
        Hj212Error: a single data item (with the parameters) does not fit one packet.
    """
    text = format_cp(cp)
    single = dataclasses.replace(header, cp="", pnum=None, pno=None)
    if len(text) <= MAX_CP and len(single.segment()) + len(text) <= max_segment:
        return (dataclasses.replace(single, cp=text),)
    probe = dataclasses.replace(single, pnum=9999, pno=9999)
    room = min(MAX_CP, max_segment - len(probe.segment()))
    parts: list[Cp] = []
    for item in cp.items:
        if parts:
            candidate = Cp(cp.params, (*parts[-1].items, item))
            if len(format_cp(candidate)) <= room:
                parts[-1] = candidate
                continue
        alone = Cp(cp.params, (item,))
        if len(format_cp(alone)) > room:
            raise Hj212Error(f"data item {item.code} alone does not fit one packet")
        parts.append(alone)
    return tuple(
        dataclasses.replace(single, cp=format_cp(part), pnum=len(parts), pno=number)
        for number, part in enumerate(parts, start=1)
    )


def join_packets(parts: list[Packet] | tuple[Packet, ...]) -> tuple[Packet, Cp]:
    """Reassemble the parts of a split upload, in any order.

    Returns the first part (for QN, CN, MN ...) and the whole CP.

    Raises:
        Hj212Error: parts missing, repeated, or not from the same upload.
    """
    if not parts:
        raise Hj212Error("no part to join")
    ordered = sorted(parts, key=lambda part: part.pno or 0)
    first = ordered[0]
    if first.pnum is None:
        raise Hj212Error("packet is not part of a split upload (no PNUM/PNO)")
    same = dataclasses.replace(first, cp="", pno=1)
    for part in ordered:
        if dataclasses.replace(part, cp="", pno=1) != same:
            raise Hj212Error(f"part PNO={part.pno} belongs to another upload")
    numbers = [part.pno for part in ordered]
    if numbers != list(range(1, first.pnum + 1)):
        raise Hj212Error(f"parts {numbers} do not make PNO 1..{first.pnum}")
    cps = [parse_cp(part.cp) for part in ordered]
    if any(cp.params != cps[0].params for cp in cps):
        raise Hj212Error("parts disagree on their parameters (DataTime)")
    return first, Cp(cps[0].params, tuple(item for cp in cps for item in cp.items))


def _answer(request: Packet, cn: str, cp: str) -> Packet:
    return Packet(
        st=ST_SYSTEM,
        cn=cn,
        pw=request.pw,
        mn=request.mn,
        cp=cp,
        qn=request.qn,
        edition=request.edition,
    )
