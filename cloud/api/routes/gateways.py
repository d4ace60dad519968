"""``GET /api/v1/gateways``: the registry with presence; ``…/{gateway_id}/latest``: newest readings.

Layer: HTTP router; storage calls within the key's scope, no SQL. A gateway outside
the scope answers 404, as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from cloud.api.auth import ReaderDep
from cloud.api.deps import StorageDep
from cloud.api.problems import error_responses
from cloud.api.scoping import resolve
from cloud.errors import UnknownGatewayError
from cloud.schemas import ID_PATTERN, DeviceOut, GatewayLatestOut, GatewayOut, LatestOut
from cloud.storage import LatestReading, StoredReading, queries
from cloud.storage.access import SeriesFilter, visible_gateways

router = APIRouter(
    prefix="/api/v1/gateways", tags=["gateways"], responses=error_responses(401, 403, 429, 503)
)

GatewayId = Annotated[str, Path(pattern=ID_PATTERN, description="gateway id")]


@router.get("")
async def list_gateways(
    key: ReaderDep,
    storage: StorageDep,
    devices: Annotated[
        bool, Query(description="also each gateway's devices, as in …/{gateway_id}/devices")
    ] = False,
) -> list[GatewayOut]:
    """Gateways in the key's scope: presence (online/offline), when their last batch came,
    what their last up/status reported, and with ``devices=true`` their devices' health."""
    visible = set(await visible_gateways(storage, key.scope))
    found = [GatewayOut.of(g) for g in await storage.list_gateways() if g.id in visible]
    if devices:
        by_gateway = await storage.devices_of([g.id for g in found])
        for gateway in found:
            gateway.devices = [DeviceOut.of(d) for d in by_gateway[gateway.id]]
    return found


@router.get("/{gateway_id}/devices", responses=error_responses(404, 422))
async def get_devices(
    gateway_id: GatewayId, key: ReaderDep, storage: StorageDep
) -> list[DeviceOut]:
    """The gateway's devices with their health (ok/degraded) and quantities; 404 if unknown."""
    if not await visible_gateways(storage, key.scope, gateway_id):
        raise UnknownGatewayError(gateway_id)
    return [DeviceOut.of(device) for device in await storage.gateway_devices(gateway_id)]


@router.get("/{gateway_id}/latest", responses=error_responses(404, 422))
async def get_latest(
    gateway_id: GatewayId, key: ReaderDep, storage: StorageDep
) -> GatewayLatestOut:
    """Latest reading of every series of the gateway in scope; 404 for an unknown gateway."""
    series = await resolve(storage, key, SeriesFilter(gateway=gateway_id))
    by_id = {s.id: s for s in series}
    rows = await queries.latest(storage, series)
    latest = sorted(
        (
            LatestReading(
                by_id[r.series_id].device,
                by_id[r.series_id].quantity,
                by_id[r.series_id].unit,
                StoredReading(r.time, r.value, r.quality),
            )
            for r in rows
        ),
        key=lambda x: (x.device, x.quantity),
    )
    return GatewayLatestOut(gateway=gateway_id, series=[LatestOut.of_latest(x) for x in latest])
