"""Query parameters shared by the reading routes: ISO 8601 times, windows, cursors.

Layer: HTTP data shapes; no I/O. Times must be ISO 8601 with a UTC offset
(``2026-05-01T08:00:00+08:00`` or ``…Z``): a bare number or a time without an
offset is refused with a message instead of being guessed at. Cursors are opaque
to clients: base64url of the order and the keyset (time, series id) of the last
row they received.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, Field

from cloud.storage.queries import Order

DEFAULT_WINDOW = timedelta(hours=24)
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_QUANTITIES = 50
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
REGION_PATTERN = r"^[0-9]{2,12}$"
MAX_DB_ID = 2**63 - 1
_NUMBER = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?")
_CURSOR = re.compile(r"(asc|desc):(-?\d{1,20}):(\d{1,19})")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_time(value: Any) -> datetime:
    """An aware datetime from ISO 8601 text with an offset; ValueError with a reason otherwise."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 time with an offset, e.g. 2026-05-01T08:00:00+08:00")
    text = value.strip()
    if _NUMBER.fullmatch(text):
        raise ValueError(
            f"{text[:24]!r} is a bare number; give an ISO 8601 time with an offset, "
            "e.g. 2026-05-01T08:00:00+08:00"
        )
    try:
        time = datetime.fromisoformat(text.upper() if "T" in text.upper() else text)
    except ValueError:
        raise ValueError(
            f"{text[:40]!r} is not an ISO 8601 time, e.g. 2026-05-01T08:00:00+08:00"
        ) from None
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"{text[:40]!r} has no UTC offset; add one, e.g. +08:00 or Z")
    try:
        utc = time.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text[:40]!r} is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("must be between the years 1900 and 9000")
    return utc


IsoTime = Annotated[
    datetime,
    BeforeValidator(parse_time),
    Field(
        description="ISO 8601 with a UTC offset",
        examples=["2026-05-01T08:00:00+08:00"],
        json_schema_extra={"type": "string", "format": "date-time"},
    ),
]

Format = Literal["json", "csv"]


def window(
    start: datetime | None, end: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """``[start, end)`` with defaults (end: now, start: 24 h before end); ValueError if empty."""
    end = end or min(now or datetime.now(UTC), LATEST)
    start = start or max(end - DEFAULT_WINDOW, EARLIEST)
    if start >= end:
        raise ValueError("start must be before end")
    return start, end


def encode_cursor(order: Order, time: datetime, series_id: int) -> str:
    """The opaque cursor after a row."""
    micros = (time - _EPOCH) // timedelta(microseconds=1)
    raw = f"{order}:{micros}:{series_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, order: Order) -> tuple[datetime, int]:
    """The keyset of a cursor; ValueError if it is not one of ours or of another order."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("is not a cursor this API handed out") from None
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise ValueError("is not a cursor this API handed out")
    if match.group(1) != order:
        raise ValueError(f"was made for order={match.group(1)}; pass the same order")
    try:
        time = _EPOCH + timedelta(microseconds=int(match.group(2)))
    except OverflowError:
        raise ValueError("is not a cursor this API handed out") from None
    series_id = int(match.group(3))
    if series_id > MAX_DB_ID:
        raise ValueError("is not a cursor this API handed out")
    return time, series_id


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


async def no_unknown_query(request: Request) -> None:
    """Refuse query parameters the route does not take (a typo is not silently ignored)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route.dependant))
    if unknown:
        raise RequestValidationError(
            [
                {"type": "extra_forbidden", "loc": ("query", name), "msg": "unknown parameter"}
                for name in unknown
            ]
        )
