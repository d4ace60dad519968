"""Who is calling: the API key from ``Authorization: Bearer`` or the dashboard's cookie.

Layer: HTTP plumbing. Resolves the key through :mod:`cloud.storage.keys` on every
request (a revoked key stops working at once), spends a token of its bucket, and
checks the role a route needs. Unknown, revoked and expired keys all get 401. The
cookie (set by ``POST /login``, HttpOnly, SameSite=Strict) authenticates only
safe methods, so a page on another site cannot make the browser change anything.
"""

from __future__ import annotations

import time
from typing import Annotated, cast

from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cloud.api.deps import StorageDep
from cloud.api.problems import ApiProblem
from cloud.api.ratelimit import RateLimiter
from cloud.storage.access import Role, Scope
from cloud.storage.keys import ApiKey, authenticate

COOKIE_NAME = "shanshui_key"
_SAFE_METHODS = frozenset({"GET", "HEAD"})
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="shanshui"'}

bearer = HTTPBearer(
    auto_error=False,
    description="An API key (`ssk_…`) from `shanshui cloud key add` or `POST /api/v1/keys`.",
)


def token_of(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str | None:
    """The key presented: the Bearer header, else (for GET/HEAD) the login cookie."""
    if credentials is not None:
        return credentials.credentials
    if request.method in _SAFE_METHODS:
        return request.cookies.get(COOKIE_NAME)
    return None


async def current_key(
    request: Request,
    storage: StorageDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> ApiKey:
    """The caller's active key, after its rate limit; 401 or 429 otherwise."""
    token = token_of(request, credentials)
    if not token:
        raise ApiProblem(status.HTTP_401_UNAUTHORIZED, "an API key is required", _CHALLENGE)
    key = await authenticate(storage, token)
    if key is None:
        raise ApiProblem(
            status.HTTP_401_UNAUTHORIZED, "the API key is unknown, revoked or expired", _CHALLENGE
        )
    limiter = cast(RateLimiter, request.app.state.rate_limiter)
    retry_after_s = limiter.check(key.id, key.rate_per_s, key.burst, time.monotonic())
    if retry_after_s:
        raise ApiProblem(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"rate limit of {key.rate_per_s:g} requests/s (burst {key.burst}) exceeded",
            {"Retry-After": str(retry_after_s)},
        )
    request.state.api_key = key
    return key


KeyDep = Annotated[ApiKey, Depends(current_key)]


def require(*roles: Role) -> object:
    """A dependency that admits only keys of ``roles`` (403 for the others)."""

    async def check(key: KeyDep) -> ApiKey:
        if key.role not in roles:
            raise ApiProblem(
                status.HTTP_403_FORBIDDEN,
                f"this needs a key of role {' or '.join(roles)}; this key is {key.role}",
            )
        return key

    return Depends(check)


AdminDep = Annotated[ApiKey, require("admin")]
ReaderDep = Annotated[ApiKey, require("admin", "analyst", "technician", "sharing")]
ExporterDep = Annotated[ApiKey, require("admin", "analyst", "technician")]
OperatorDep = Annotated[ApiKey, require("admin", "analyst", "technician")]


def scope_of(key: ApiKey) -> Scope:
    """The key's scope (a shorthand for routes)."""
    return key.scope
