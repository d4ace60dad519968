"""``POST /api/v1/gateways/{id}/config | commands | rotate-secret``: remote control (admins).

Layer: HTTP router over :mod:`cloud.gateway_control`, the code path of the CLI
too (signing with the registry's secret, the MQTT round trip, the audit line).
A gateway outside the admin's scope answers 404; no answer within the request's
``timeout_s`` answers 504 (a config stays retained for a gateway that is offline);
no broker 503. The gateway's own refusal is an answer (200, ``result`` says so).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, cast

from fastapi import APIRouter, Path, Request

from cloud.api.auth import AdminDep
from cloud.api.control_models import CommandIn, ConfigIn, GatewayAnswer, RotateIn
from cloud.api.deps import StorageDep
from cloud.api.problems import error_responses
from cloud.errors import BrokerUnreachableError, UnknownGatewayError
from cloud.gateway_control import (
    Broker,
    push_config,
    resume_rotation,
    rotate_secret_and_push,
    send_command,
)
from cloud.schemas import ID_PATTERN
from cloud.settings import MqttEndpoint
from cloud.storage import Storage
from cloud.storage.access import visible_gateways
from cloud.storage.keys import ApiKey

router = APIRouter(
    prefix="/api/v1/gateways",
    tags=["remote control"],
    responses=error_responses(401, 403, 404, 422, 429, 503, 504),
)

GatewayId = Annotated[str, Path(pattern=ID_PATTERN, description="gateway id")]


@router.post("/{gateway_id}/config")
async def post_config(
    gateway_id: GatewayId, body: ConfigIn, admin: AdminDep, storage: StorageDep, request: Request
) -> GatewayAnswer:
    """Push a complete gateway.yaml; the gateway's answer (applied, or rejected and why)."""
    broker = await _target(request, storage, admin, gateway_id)
    answer = await push_config(
        storage,
        broker,
        gateway_id,
        body.yaml,
        body.version,
        timeout_s=body.timeout_s,
        actor=admin.actor,
    )
    return GatewayAnswer.model_validate(answer)


@router.post("/{gateway_id}/commands")
async def post_command(
    gateway_id: GatewayId, body: CommandIn, admin: AdminDep, storage: StorageDep, request: Request
) -> GatewayAnswer:
    """Send a command (diagnostics, poll-now, set-interval, resend); the gateway's answer."""
    broker = await _target(request, storage, admin, gateway_id)
    answer = await send_command(
        storage,
        broker,
        gateway_id,
        body.cmd,
        [str(arg) for arg in body.args],
        timeout_s=body.timeout_s,
        actor=admin.actor,
    )
    return GatewayAnswer.model_validate(answer)


@router.post("/{gateway_id}/rotate-secret")
async def post_rotate_secret(
    gateway_id: GatewayId, body: RotateIn, admin: AdminDep, storage: StorageDep, request: Request
) -> GatewayAnswer:
    """Issue a new secret and deliver it to the gateway encrypted; its answer under the new one.

    The secret appears in no response. On 504 the rotation stands: the gateway keeps
    signing with the old secret, accepted for ``grace_hours``; ``resume`` delivers it again.
    """
    broker = await _target(request, storage, admin, gateway_id)
    if body.resume:
        answer = await resume_rotation(
            storage, broker, gateway_id, timeout_s=body.timeout_s, actor=admin.actor
        )
        return GatewayAnswer.model_validate(answer)
    answer = await rotate_secret_and_push(
        storage,
        broker,
        gateway_id,
        grace=timedelta(hours=body.grace_hours),
        timeout_s=body.timeout_s,
        actor=admin.actor,
    )
    return GatewayAnswer.model_validate(answer)


async def _target(request: Request, storage: Storage, admin: ApiKey, gateway_id: str) -> Broker:
    if not await visible_gateways(storage, admin.scope, gateway_id):
        raise UnknownGatewayError(gateway_id)
    state: Any = request.app.state
    endpoint = cast(MqttEndpoint | None, getattr(state, "broker", None))
    if endpoint is None:
        raise BrokerUnreachableError("no broker is configured (SHANSHUI_MQTT_URL)")
    return Broker(endpoint, state.settings.topic_root)
