"""``GET /api/v1/readings`` (pages and CSV exports) and ``GET /api/v1/latest``.

Layer: HTTP router. Resolves the series in the key's scope, then one storage call;
no SQL. JSON pages carry ``has_more`` and ``next_cursor``; ``order=desc`` starts
from the newest reading. ``format=csv`` (or ``Accept: text/csv``) streams the whole
window without holding it in memory, and is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import StreamingResponse

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.params import Format, IsoTime, decode_cursor, encode_cursor, window
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.reading_models import LatestList, LatestRow, ReadingRow, ReadingsPage
from cloud.api.scoping import FilterDep, resolve
from cloud.schemas import MAX_LIMIT, iso_utc
from cloud.storage import Storage, audit, queries
from cloud.storage.access import SeriesFilter, VisibleSeries
from cloud.storage.keys import ApiKey
from cloud.storage.queries import Order

router = APIRouter(
    prefix="/api/v1", tags=["readings"], responses=error_responses(401, 403, 404, 422, 429, 503)
)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
CSV_HEADER = (
    "time",
    "station",
    "gateway",
    "device",
    "quantity",
    "unit",
    "value",
    "quality",
    "mean_of",  # empty for a raw reading; n for the mean of n readings (thinned)
)
_CSV_DOC = {"text/csv": {"schema": {"type": "string"}, "example": "time,station,gateway,...\n"}}

StartQ = Annotated[
    IsoTime | None,
    Query(
        description="inclusive; default end - 24 h",
        openapi_examples={"Beijing time": {"value": "2026-05-01T00:00:00+08:00"}},
    ),
]
EndQ = Annotated[
    IsoTime | None,
    Query(
        description="exclusive; default now",
        openapi_examples={"UTC": {"value": "2026-05-02T00:00:00Z"}},
    ),
]
OrderQ = Annotated[Order, Query(description="asc: oldest first; desc: newest first")]
FormatQ = Annotated[Format | None, Query(description="json (default) or csv; or Accept: text/csv")]
AcceptH = Annotated[str | None, Header(include_in_schema=False)]


def checked_window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """:func:`cloud.api.params.window`, its ValueError as a 422 problem."""
    try:
        return window(start, end)
    except ValueError as exc:
        raise ApiProblem(status.HTTP_422_UNPROCESSABLE_CONTENT, f"start: {exc}") from None


def wants_csv(format_: str | None, accept: str | None) -> bool:
    """CSV when asked by ``format=csv``, or by an Accept header that prefers text/csv."""
    if format_ is not None:
        return format_ == "csv"
    return accept is not None and accept.split(",")[0].strip().startswith("text/csv")


@router.get(
    "/readings",
    responses={200: {"content": _CSV_DOC}},
    summary="Readings in a time window, paged (JSON) or whole (CSV)",
)
async def get_readings(
    *,
    key: ReaderDep,
    storage: StorageDep,
    query: FilterDep,
    start: StartQ = None,
    end: EndQ = None,
    order: OrderQ = "asc",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="readings per page")] = 1000,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
    format: FormatQ = None,
    accept: AcceptH = None,
) -> ReadingsPage:
    """Readings of every series in scope matching the filters, with ``start <= time < end``.

    Ordered by time (then series); `order=desc` gives the newest first. A gateway or
    station outside the key's scope is 404, like one that does not exist.
    """
    start, end = checked_window(start, end)
    try:
        after = None if cursor is None else decode_cursor(cursor, order)
    except ValueError as exc:
        raise ApiProblem(status.HTTP_422_UNPROCESSABLE_CONTENT, f"cursor: {exc}") from None
    series = await resolve(storage, key, query)
    if wants_csv(format, accept):
        return await _export(
            storage=storage, key=key, query=query, series=series, span=(start, end), order=order
        )  # type: ignore[return-value]
    rows, more = await queries.page(
        storage, series, start, end, order=order, limit=limit, after=after
    )
    by_id = {s.id: s for s in series}
    last = rows[-1] if rows else None
    return ReadingsPage(
        start=iso_utc(start),
        end=iso_utc(end),
        order=order,
        readings=[ReadingRow.of(row, by_id[row.series_id]) for row in rows],
        has_more=more,
        next_cursor=encode_cursor(order, last.time, last.series_id) if more and last else None,
    )


async def _export(
    *,
    storage: Storage,
    key: ApiKey,
    query: SeriesFilter,
    series: Sequence[VisibleSeries],
    span: tuple[datetime, datetime],
    order: Order,
) -> StreamingResponse:
    if key.role == "sharing":
        raise ApiProblem(status.HTTP_403_FORBIDDEN, "sharing keys may read but not export")
    start, end = span
    detail = {
        "start": iso_utc(start),
        "end": iso_utc(end),
        "filters": {k: v for k, v in query.params().items() if v is not None},
        "series": len(series),
    }
    await audit.record(
        storage, key.actor, "readings.export", "readings", detail, tenant_id=key.scope.tenant_id
    )
    return StreamingResponse(
        _csv_rows(storage, series, start, end, order),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="readings.csv"'},
    )


async def _csv_rows(
    storage: Storage,
    series: Sequence[VisibleSeries],
    start: datetime,
    end: datetime,
    order: Order,
) -> AsyncIterator[str]:
    by_id = {s.id: s for s in series}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    yield buffer.getvalue()
    async for chunk in queries.export(storage, series, start, end, order=order):
        buffer.seek(0)
        buffer.truncate()
        for row in chunk:
            one = by_id[row.series_id]
            writer.writerow(
                (
                    iso_utc(row.time),
                    one.site_id or "",
                    one.gateway,
                    one.device,
                    one.quantity,
                    one.unit,
                    repr(row.value),
                    row.quality,
                    row.mean_of or "",
                )
            )
        yield buffer.getvalue()


@router.get("/latest", summary="The newest reading of every series in scope")
async def get_latest(key: ReaderDep, storage: StorageDep, query: FilterDep) -> LatestList:
    """The newest reading of each series matching the filters (series without one are left out)."""
    series = await resolve(storage, key, query)
    by_id = {s.id: s for s in series}
    rows = await queries.latest(storage, series)
    ordered = sorted(
        rows,
        key=lambda r: (
            by_id[r.series_id].gateway,
            by_id[r.series_id].device,
            by_id[r.series_id].quantity,
        ),
    )
    return LatestList(
        series=[LatestRow(**ReadingRow.of(r, by_id[r.series_id]).model_dump()) for r in ordered]
    )
