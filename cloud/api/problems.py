"""Errors as RFC 9457 problem details (``application/problem+json``).

Layer: HTTP wiring. One response shape for every error the API gives: domain
errors, validation failures, unknown routes, authentication and rate limits. A
server-side failure is logged for the operator and answered without its details
(they may name the database host). :func:`install` registers the handlers and
rewrites the OpenAPI document so every documented error has this media type.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from cloud.errors import (
    BrokerUnreachableError,
    CloudError,
    GatewayExistsError,
    InvalidIdentifierError,
    InvalidValueError,
    NoAnswerError,
    NotFoundError,
    RemoteError,
    SeriesNotFoundError,
    StorageUnavailableError,
    UnknownGatewayError,
)

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
UNAVAILABLE = "the database is unavailable; try again later"
BROKER_UNAVAILABLE = "the broker is unavailable; try again later"
_STATUS: dict[type[CloudError], int] = {
    SeriesNotFoundError: status.HTTP_404_NOT_FOUND,
    UnknownGatewayError: status.HTTP_404_NOT_FOUND,
    NotFoundError: status.HTTP_404_NOT_FOUND,
    GatewayExistsError: status.HTTP_409_CONFLICT,
    InvalidIdentifierError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    InvalidValueError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    StorageUnavailableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    BrokerUnreachableError: status.HTTP_503_SERVICE_UNAVAILABLE,
    NoAnswerError: status.HTTP_504_GATEWAY_TIMEOUT,
    RemoteError: status.HTTP_422_UNPROCESSABLE_CONTENT,
}


class ProblemItem(BaseModel):
    """One invalid parameter or field."""

    loc: list[str | int] = Field(description="where: ['query', 'start'], ['body', 'name'] …")
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong, for people and programs."""

    type: str = Field(default="about:blank", description="a URI naming the kind of problem")
    title: str = Field(description="the HTTP status phrase", examples=["Not Found"])
    status: int = Field(description="the HTTP status code", examples=[404])
    detail: str = Field(description="what went wrong here", examples=["no gateway 'gw-9'"])
    instance: str | None = Field(default=None, description="the request path")
    errors: list[ProblemItem] | None = Field(
        default=None, description="each invalid parameter (422 only)"
    )


class ApiProblem(Exception):  # noqa: N818 - it is a response, named as RFC 9457 does
    """Raise in a route or dependency to answer with a problem."""

    def __init__(self, code: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})


def problem(
    request: Request,
    code: int,
    detail: str,
    *,
    errors: list[ProblemItem] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body = Problem(
        title=HTTPStatus(code).phrase,
        status=code,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=code,
        media_type=MEDIA_TYPE,
        headers=dict(headers or {}),
    )


async def _cloud_error(request: Request, exc: Exception) -> JSONResponse:
    code = next(
        (c for kind, c in _STATUS.items() if isinstance(exc, kind)),
        status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
    if isinstance(exc, NoAnswerError):  # names the gateway and the timeout, nothing more
        return problem(request, code, str(exc))
    if code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        # the driver's words may carry the server's host and port: log, don't tell
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        broker = isinstance(exc, BrokerUnreachableError)
        return problem(request, code, BROKER_UNAVAILABLE if broker else UNAVAILABLE)
    return problem(request, code, str(exc))


async def _api_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)  # noqa: S101 - registered for this type only
    return problem(request, exc.code, exc.detail, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101 - registered for this type
    return problem(request, exc.status_code, str(exc.detail), headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101 - registered for this type
    items = [_item(error) for error in exc.errors()]
    detail = "; ".join(f"{_where(item.loc)}: {item.msg}" for item in items)
    return problem(request, status.HTTP_422_UNPROCESSABLE_CONTENT, detail, errors=items)


def _item(error: Mapping[str, Any]) -> ProblemItem:
    loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
    msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    if error.get("type") == "json_invalid":
        # pydantic's loc is ["body", character offset]: say it in words
        reason = (error.get("ctx") or {}).get("error", "")
        at = f" at character {loc[1]}" if len(loc) > 1 else ""
        loc, msg = loc[:1], f"not valid JSON{at}" + (f": {reason}" if reason else "")
    return ProblemItem(loc=loc, msg=msg)


def _where(loc: Sequence[int | str]) -> str:
    """``start``, ``quantity.0``, ``body``: the location without its query/path/body prefix."""
    return ".".join(str(p) for p in loc[1:]) or ".".join(str(p) for p in loc) or "request"


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return problem(request, status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error; it was logged")


def install(app: FastAPI) -> None:
    """Register the handlers and the problem-aware OpenAPI document on ``app``."""
    app.add_exception_handler(CloudError, _cloud_error)
    app.add_exception_handler(ApiProblem, _api_problem)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _problems_everywhere(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each code documented as a problem."""
    return {code: {"model": Problem, "description": HTTPStatus(code).phrase} for code in codes}


def _problems_everywhere(document: dict[str, Any]) -> dict[str, Any]:
    reference = {"$ref": "#/components/schemas/Problem"}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    if "Problem" not in schemas:
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schemas["Problem"].pop("$defs", {}))
    for path in document.get("paths", {}).values():
        for operation in path.values():
            if "requestBody" in operation:  # a body that is not JSON at all
                operation["responses"].setdefault("400", {"description": "Bad Request"})
            for code, response in operation.get("responses", {}).items():
                if code.isdigit() and int(code) >= 400:
                    response["content"] = {MEDIA_TYPE: {"schema": reference}}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
