"""``GET /healthz``: is the database reachable, what has ingest done.

Layer: HTTP router; no SQL (storage pings). Like every endpoint it needs a key.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from cloud.api.auth import ReaderDep
from cloud.api.deps import IngestDep, StorageDep
from cloud.api.problems import error_responses
from cloud.errors import StorageUnavailableError
from cloud.schemas import HealthOut, IngestHealth
from cloud.settings import embedded_warning

router = APIRouter(tags=["health"], responses=error_responses(401, 429))


@router.get("/healthz", responses=error_responses(503))
async def get_health(
    request: Request, key: ReaderDep, storage: StorageDep, ingest: IngestDep
) -> HealthOut:
    """200 with ``status: ok`` (or ``degraded`` when ingest lost its broker); 503 as a
    problem when the database is unreachable."""
    if not await storage.ping():
        raise StorageUnavailableError("health check: the database did not answer")
    ingest_health = None if ingest is None else IngestHealth.of(ingest.stats)
    healthy = ingest_health is None or ingest_health.connected
    embedded: list[str] = request.app.state.embedded
    return HealthOut(
        status="ok" if healthy else "degraded",
        database="ok",
        ingest=ingest_health,
        embedded_servers=embedded,
        warning=embedded_warning(embedded) if embedded else None,
    )
