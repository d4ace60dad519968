"""``GET /api/v1/aggregates``: avg/min/max/count per series and time bucket.

Layer: HTTP router; resolves the series in scope, one storage call, no SQL.
Buckets run from one minute to one month; days, weeks (from Monday) and months
are cut in each station's time zone (default Asia/Shanghai). Only valid readings
(flag N) are counted.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import Response

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.reading_models import (
    AggregatesOut,
    BucketOut,
    FlagShareOut,
    SeriesBuckets,
    SeriesRef,
)
from cloud.api.routes.readings import (
    CSV_MEDIA_TYPE,
    EndQ,
    FormatQ,
    StartQ,
    checked_window,
    wants_csv,
)
from cloud.api.scoping import FilterDep, resolve
from cloud.schemas import iso_utc
from cloud.storage import audit
from cloud.storage.aggregates import BUCKETS, aggregate
from cloud.storage.flag_shares import flag_shares

router = APIRouter(
    prefix="/api/v1", tags=["readings"], responses=error_responses(401, 403, 404, 422, 429, 503)
)

BucketName = Literal[
    "1min",
    "5min",
    "10min",
    "15min",
    "30min",
    "1h",
    "2h",
    "3h",
    "6h",
    "8h",
    "12h",
    "1d",
    "1w",
    "1mo",
]
MAX_BUCKETS_PER_SERIES = 50_000
_CALENDAR_SIZE = {"day": timedelta(days=1), "week": timedelta(days=7), "month": timedelta(days=28)}
_CSV_HEADER = (
    "bucket_start",
    "station",
    "gateway",
    "device",
    "quantity",
    "unit",
    "avg",
    "min",
    "max",
    "count",
)


@router.get(
    "/aggregates",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="avg/min/max/count per series and time bucket",
)
async def get_aggregates(
    *,
    key: ReaderDep,
    storage: StorageDep,
    query: FilterDep,
    bucket: Annotated[
        BucketName, Query(description="bucket size; 1d, 1w, 1mo are cut in the station's zone")
    ] = "1h",
    start: StartQ = None,
    end: EndQ = None,
    flags: Annotated[
        bool, Query(description="also list per bucket the readings not flagged N (JSON only)")
    ] = False,
    format: FormatQ = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> AggregatesOut:
    """Aggregates of each series in scope matching the filters over ``[start, end)``.

    At most 50 000 buckets per series: a longer window needs a larger bucket.
    With ``flags=true`` each series also lists the buckets that hold readings flagged
    other than N, with how many readings they hold and how many are valid.
    """
    start, end = checked_window(start, end)
    size = BUCKETS[bucket]
    step = size if isinstance(size, timedelta) else _CALENDAR_SIZE[size]
    if (end - start) / step > MAX_BUCKETS_PER_SERIES:
        raise ApiProblem(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"bucket: {bucket} over this window makes more than {MAX_BUCKETS_PER_SERIES} "
            "buckets per series; narrow the window or choose a larger bucket",
        )
    series = await resolve(storage, key, query)
    rows = await aggregate(storage, series, start, end, bucket)
    by_series: dict[int, list[BucketOut]] = {s.id: [] for s in series}
    for row in rows:
        by_series[row.series_id].append(BucketOut.of(row))
    flagged: dict[int, list[FlagShareOut]] | None = None
    if flags and not wants_csv(format, accept):
        flagged = {s.id: [] for s in series}
        for share in await flag_shares(storage, series, start, end, bucket):
            flagged[share.series_id].append(FlagShareOut.of(share))
    out = AggregatesOut(
        bucket=bucket,
        start=iso_utc(start),
        end=iso_utc(end),
        series=[
            SeriesBuckets(
                **SeriesRef.fields_of(one),
                time_zone=one.time_zone,
                buckets=by_series[one.id],
                flagged=None if flagged is None else flagged[one.id],
            )
            for one in series
        ],
    )
    if not wants_csv(format, accept):
        return out
    if key.role == "sharing":
        raise ApiProblem(status.HTTP_403_FORBIDDEN, "sharing keys may read but not export")
    detail = {"bucket": bucket, "start": out.start, "end": out.end, "series": len(series)}
    await audit.record(
        storage, key.actor, "aggregates.export", "aggregates", detail, tenant_id=key.scope.tenant_id
    )
    return Response(_csv(out), media_type=CSV_MEDIA_TYPE)  # type: ignore[return-value]


def _csv(out: AggregatesOut) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(_CSV_HEADER)
    for one in out.series:
        for b in one.buckets:
            writer.writerow(
                (
                    b.start,
                    one.station or "",
                    one.gateway,
                    one.device,
                    one.quantity,
                    one.unit,
                    repr(b.avg),
                    repr(b.min),
                    repr(b.max),
                    b.count,
                )
            )
    return buffer.getvalue()
