"""``GET /``: the live dashboard, one static page that draws charts from the JSON API.

Layer: HTTP router; serves a file shipped in ``cloud/dashboard``, no data access
of its own (the page calls ``/api/v1/...`` like any other client).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "index.html"


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    """The dashboard; ``?gateway=<id>&hours=<n>`` choose what it shows."""
    return HTMLResponse(_page())
