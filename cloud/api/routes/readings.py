"""``GET /api/v1/readings``: readings of one series in a time window.

Layer: HTTP router; one storage call, no SQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from cloud.api.deps import StorageDep
from cloud.schemas import ReadingsQuery, SeriesReadingsOut

router = APIRouter(prefix="/api/v1", tags=["readings"])


@router.get("/readings")
async def get_readings(
    query: Annotated[ReadingsQuery, Query()], storage: StorageDep
) -> SeriesReadingsOut:
    """Readings of ``quantity`` from ``device`` on ``gateway``, oldest first.

    404 when the gateway has no such series; 422 for bad parameters.
    """
    start, end = query.window
    series = await storage.readings(
        query.gateway, query.device, query.quantity, start=start, end=end, limit=query.limit
    )
    return SeriesReadingsOut.of(series)
