"""``GET /``: the live dashboard, one static page that draws charts from the JSON API.

Layer: HTTP router; serves a file shipped in ``cloud/dashboard``, no data access
of its own (the page calls ``/api/v1/...`` like any other client, with the login
cookie). Without a valid key it sends the browser to ``/login``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from cloud.api.auth import bearer, token_of
from cloud.api.deps import StorageDep
from cloud.storage.keys import authenticate

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "index.html"


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(
    request: Request,
    storage: StorageDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """The dashboard; ``?gateway=<id>&hours=<n>`` choose what it shows."""
    token = token_of(request, credentials)
    if not token or await authenticate(storage, token) is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return HTMLResponse(_page())
