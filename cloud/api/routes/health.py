"""``GET /healthz``: is the database reachable, what has ingest done.

Layer: HTTP router; no SQL (storage pings). Like every endpoint it needs a key.
"""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.auth import ReaderDep
from cloud.api.deps import IngestDep, StorageDep
from cloud.api.problems import error_responses
from cloud.errors import StorageUnavailableError
from cloud.schemas import HealthOut, IngestHealth

router = APIRouter(tags=["health"], responses=error_responses(401, 429))


@router.get("/healthz", responses=error_responses(503))
async def get_health(key: ReaderDep, storage: StorageDep, ingest: IngestDep) -> HealthOut:
    """200 with ``status: ok`` (or ``degraded`` when ingest lost its broker); 503 as a
    problem when the database is unreachable."""
    if not await storage.ping():
        raise StorageUnavailableError("health check: the database did not answer")
    ingest_health = None if ingest is None else IngestHealth.of(ingest.stats)
    healthy = ingest_health is None or ingest_health.connected
    return HealthOut(status="ok" if healthy else "degraded", database="ok", ingest=ingest_health)
