"""``GET /api/v1/gateways``: the registry with presence; ``…/{gateway_id}/latest``: newest readings.

Layer: HTTP router; one storage call, no SQL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from cloud.api.deps import StorageDep
from cloud.schemas import ID_PATTERN, DeviceOut, GatewayLatestOut, GatewayOut, LatestOut

router = APIRouter(prefix="/api/v1/gateways", tags=["gateways"])

GatewayId = Annotated[str, Path(pattern=ID_PATTERN, description="gateway id")]


@router.get("")
async def list_gateways(storage: StorageDep) -> list[GatewayOut]:
    """Every registered gateway: presence (online/offline) and when its last batch came."""
    return [GatewayOut.of(gateway) for gateway in await storage.list_gateways()]


@router.get("/{gateway_id}/devices")
async def get_devices(gateway_id: GatewayId, storage: StorageDep) -> list[DeviceOut]:
    """The gateway's devices with their health (ok/degraded) and quantities; 404 if unknown."""
    return [DeviceOut.of(device) for device in await storage.gateway_devices(gateway_id)]


@router.get("/{gateway_id}/latest")
async def get_latest(gateway_id: GatewayId, storage: StorageDep) -> GatewayLatestOut:
    """Latest reading of every series of the gateway; 404 for an unknown gateway."""
    latest = await storage.latest(gateway_id)
    return GatewayLatestOut(gateway=gateway_id, series=[LatestOut.of_latest(x) for x in latest])
