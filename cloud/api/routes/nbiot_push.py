"""Operator-platform push of NB-IoT uplinks: CTWing's and OneNET's HTTP push.

Endpoints: ``POST /api/v1/nbiot/ctwing/{token}``, ``GET|POST /api/v1/nbiot/onenet``.

Layer: HTTP router over :mod:`cloud.ingest.platform_push` (the platform's
message and credential) and :class:`cloud.ingest.compact_frames.CompactFrames`
(the frame's own HMAC, the pipeline, the dead letters); no SQL here. A device
behind China Telecom's CTWing or China Mobile's OneNET sends its compact frame to
the platform, which POSTs it here as JSON. The answer comes only after every
frame of the message is settled: 200 with, per frame, what became of it and the
signed acknowledgement (hex) for the platform's downlink to carry back to the
device. A frame that does not verify is kept as a dead letter (still 200:
the platform re-sending it would change nothing). A wrong platform credential
is 401 and stores nothing; an unavailable database is 503, which the platform
answers by pushing again. Each endpoint is off (404) until its token is set
(``SHANSHUI_CTWING_PUSH_TOKEN``, ``SHANSHUI_ONENET_PUSH_TOKEN``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from cloud.api.deps import SettingsDep
from cloud.api.problems import ApiProblem, error_responses
from cloud.api.routes.ingest import read_limited
from cloud.errors import StorageUnavailableError
from cloud.ingest.compact_frames import CompactFrames
from cloud.ingest.platform_push import (
    PushedFrame,
    PushError,
    ctwing_frames,
    onenet_frames,
    onenet_verify_url,
    token_matches,
)
from cloud.settings import Settings

MAX_PUSH_BYTES = 64 * 1024  # a frame is at most 512 bytes; a batch push holds a few
SETTLE_TIMEOUT_S = 30.0

router = APIRouter(tags=["nbiot"])


class FrameOutcome(BaseModel):
    """What became of one pushed frame."""

    device: str = Field(description="the platform's device id or IMEI")
    outcome: str = Field(description="stored, duplicate, presence (status frame) or dead_lettered")
    gateway: str | None = Field(description="the gateway the frame names")
    seq: int | None = Field(description="the batch's sequence number, when verified")
    reason: str | None = Field(description="the dead-letter reason, if refused")
    ack: str | None = Field(description="the signed compact acknowledgement, hex")


class PushSettled(BaseModel):
    """Every frame of the push message, settled."""

    frames: list[FrameOutcome]


def get_frames(request: Request) -> CompactFrames:
    """The app's compact-frame settler (it exists while a push token is set)."""
    frames = request.app.state.platform_frames
    if frames is None:
        raise ApiProblem(404, "operator-platform push is not configured")
    return cast(CompactFrames, frames)


FramesDep = Annotated[CompactFrames, Depends(get_frames)]


@router.post(
    "/api/v1/nbiot/ctwing/{token}",
    responses=error_responses(401, 404, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def ctwing_push(
    token: str, request: Request, settings: SettingsDep, frames: FramesDep
) -> PushSettled:
    """A CTWing subscription push; a ``dataReport`` carries a frame in ``payload.APPdata``."""
    expected = _token(settings, "ctwing")
    if not token_matches(token, expected):
        raise ApiProblem(status.HTTP_401_UNAUTHORIZED, "unknown push token")
    body = await read_limited(request, MAX_PUSH_BYTES)
    try:
        pushed = ctwing_frames(body)
    except PushError as exc:
        raise ApiProblem(422, f"{exc.reason}: {exc}") from None
    return await _settle(frames, "ctwing", pushed)


@router.get(
    "/api/v1/nbiot/onenet",
    response_class=PlainTextResponse,
    responses=error_responses(401, 404),
)
async def onenet_verify(
    settings: SettingsDep,
    msg: Annotated[str, Query(max_length=1024)],
    nonce: Annotated[str, Query(max_length=64)],
    signature: Annotated[str, Query(max_length=128)],
) -> str:
    """OneNET's URL verification: answered with ``msg`` when signed with the token."""
    if not onenet_verify_url(_token(settings, "onenet"), msg, nonce, signature):
        raise ApiProblem(status.HTTP_401_UNAUTHORIZED, "signature does not match the token")
    return msg


@router.post(
    "/api/v1/nbiot/onenet",
    responses=error_responses(401, 404, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def onenet_push(request: Request, settings: SettingsDep, frames: FramesDep) -> PushSettled:
    """A OneNET data push (signed with the token); datapoints carry frames in ``value``."""
    token = _token(settings, "onenet")
    body = await read_limited(request, MAX_PUSH_BYTES)
    try:
        pushed = onenet_frames(body, token)
    except PushError as exc:
        code = 401 if exc.reason == "bad_platform_signature" else 422
        raise ApiProblem(code, f"{exc.reason}: {exc}") from None
    return await _settle(frames, "onenet", pushed)


def _token(settings: Settings, platform: str) -> str:
    secret = settings.ctwing_push_token if platform == "ctwing" else settings.onenet_push_token
    if secret is None:
        raise ApiProblem(404, f"{platform} push is not configured")
    return secret.get_secret_value()


async def _settle(frames: CompactFrames, platform: str, pushed: list[PushedFrame]) -> PushSettled:
    outcomes = []
    try:
        async with asyncio.timeout(SETTLE_TIMEOUT_S):
            for item in pushed:
                settled, ack = await frames.settle_frame(f"{platform}:{item.device}", item.frame)
                outcomes.append(
                    FrameOutcome(
                        device=item.device,
                        outcome=settled.outcome,
                        gateway=settled.gateway_id,
                        seq=settled.seq,
                        reason=settled.rejected.reason if settled.rejected else None,
                        ack=ack.hex().upper() if ack is not None else None,
                    )
                )
    except TimeoutError:
        raise StorageUnavailableError("push: the frames could not be stored in time") from None
    return PushSettled(frames=outcomes)
