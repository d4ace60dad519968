"""``GET /healthz``: is the database reachable, what has ingest done.

Layer: HTTP router; no SQL (storage pings).
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from cloud.api.deps import IngestDep, StorageDep
from cloud.schemas import HealthOut, IngestHealth

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def get_health(storage: StorageDep, ingest: IngestDep, response: Response) -> HealthOut:
    """200 with ``status: ok`` when all is well; 503 when the database is unreachable."""
    database_ok = await storage.ping()
    ingest_health = None if ingest is None else IngestHealth.of(ingest.stats)
    healthy = database_ok and (ingest_health is None or ingest_health.connected)
    if not database_ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthOut(
        status="ok" if healthy else "degraded",
        database="ok" if database_ok else "unreachable",
        ingest=ingest_health,
    )
