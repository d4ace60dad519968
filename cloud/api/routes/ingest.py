"""``POST /api/v1/ingest``: a signed batch over HTTP, for gateways that cannot use MQTT.

Layer: HTTP router (a transport of :class:`cloud.ingest.IngestPipeline`); no SQL
and no wire parsing here. The body is the same signed envelope a gateway
publishes on MQTT; its HMAC, not an API key, authenticates the gateway. The
answer comes only after the pipeline settled the batch: 202 once it is committed
(or recognised as a replay), else the dead-letter reason as a problem (the
message is kept as a dead letter, as on MQTT). Bodies are read up to a limit and
refused with 413 beyond it, without reading the rest.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from cloud.api.problems import ApiProblem, error_responses
from cloud.errors import StorageUnavailableError
from cloud.ingest import IngestPipeline
from cloud.ingest.pipeline import DUPLICATE, Settled
from wire import MAX_BATCH_BYTES

# The envelope carries the batch as an escaped JSON string: allow for the escaping.
MAX_BODY_BYTES = 2 * MAX_BATCH_BYTES
SETTLE_TIMEOUT_S = 30.0

# dead-letter reason -> HTTP status; anything else is 422
_STATUS = {
    "unknown_gateway": status.HTTP_401_UNAUTHORIZED,
    "unsigned": status.HTTP_401_UNAUTHORIZED,
    "bad_signature": status.HTTP_401_UNAUTHORIZED,
    "revoked": status.HTTP_403_FORBIDDEN,
    "seq_reused": status.HTTP_409_CONFLICT,
    "internal_error": status.HTTP_500_INTERNAL_SERVER_ERROR,
}

router = APIRouter(tags=["ingest"])


class IngestAccepted(BaseModel):
    """The batch is committed (or was already)."""

    gateway: str = Field(description="the gateway the signed envelope names")
    seq: int = Field(description="the batch's sequence number")
    duplicate: bool = Field(description="a replay of a batch stored before; nothing written")
    stored: int = Field(description="readings written now")


def get_pipeline(request: Request) -> IngestPipeline:
    """The app's ingest pipeline."""
    return cast(IngestPipeline, request.app.state.pipeline)


PipelineDep = Annotated[IngestPipeline, Depends(get_pipeline)]


@router.post(
    "/api/v1/ingest",
    status_code=status.HTTP_202_ACCEPTED,
    responses=error_responses(401, 403, 409, 413, 422, 503),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_ingest(request: Request, pipeline: PipelineDep) -> IngestAccepted:
    """Store one signed batch (the MQTT envelope); 202 only after the commit."""
    body = await _read_limited(request)
    source = f"http:{request.client.host if request.client else '-'}"
    try:
        async with asyncio.timeout(SETTLE_TIMEOUT_S):
            settled = await pipeline.handle_signed(source, body)
    except TimeoutError:
        raise StorageUnavailableError("ingest: the batch could not be stored in time") from None
    return _answer(settled)


def _answer(settled: Settled) -> IngestAccepted:
    rejected = settled.rejected
    if rejected is not None:
        code = _STATUS.get(rejected.reason, status.HTTP_422_UNPROCESSABLE_CONTENT)
        raise ApiProblem(code, f"{rejected.reason}: {rejected.detail}")
    return IngestAccepted(
        gateway=settled.gateway_id or "",
        seq=settled.seq or 0,
        duplicate=settled.outcome == DUPLICATE,
        stored=settled.readings_stored,
    )


async def _read_limited(request: Request) -> bytes:
    return await read_limited(request, MAX_BODY_BYTES)


async def read_limited(request: Request, limit: int) -> bytes:
    """The request's body, refused with 413 past ``limit`` bytes without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiProblem(413, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiProblem(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
