"""``GET /api/v1/gateways/{gateway_id}/latest``: the newest reading of each series.

Layer: HTTP router; one storage call, no SQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cloud.api.deps import StorageDep
from cloud.schemas import ID_PATTERN, GatewayLatestOut, LatestOut

router = APIRouter(prefix="/api/v1/gateways", tags=["gateways"])

GatewayId = Annotated[str, Path(pattern=ID_PATTERN, description="gateway id")]


@router.get("/{gateway_id}/latest")
async def get_latest(gateway_id: GatewayId, storage: StorageDep) -> GatewayLatestOut:
    """Latest reading of every series of the gateway; 404 for an unknown gateway."""
    latest = await storage.latest(gateway_id)
    return GatewayLatestOut(gateway=gateway_id, series=[LatestOut.of_latest(x) for x in latest])
