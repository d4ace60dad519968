"""The dashboard's pages, its static assets, and ``/docs`` / ``/redoc`` with local assets.

Layer: HTTP router; serves files shipped in ``cloud/dashboard``, no data access of
its own (the pages call ``/api/v1/...`` like any other client, with the login
cookie). The signed-in pages share one document (``layout.html``: head, header, the
message shown without JavaScript) around their own ``<main>`` (``pages/*.html``).
Without a valid key a page sends the browser to ``/login``. Static assets (code,
styles, the vendored Swagger UI and ReDoc) need no key: they hold no data.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.staticfiles import StaticFiles

from cloud.api.auth import bearer, token_of
from cloud.api.deps import StorageDep
from cloud.storage.keys import authenticate

router = APIRouter(tags=["dashboard"], include_in_schema=False)

HERE = Path(__file__).resolve().parents[2] / "dashboard"
STATIC = HERE / "static"
VENDOR = "/static/vendor"
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def static_files() -> StaticFiles:
    """The app mounts this at ``/static``."""
    return StaticFiles(directory=STATIC)


# page -> (title, script); the <main> of each is pages/{page}.html
PAGES = {
    "index": ("总览 Overview", "overview.js"),
    "station": ("站点 Station", "station.js"),
    "alarms": ("报警 Alarms", "alarms.js"),
    "gateways": ("网关 Gateways", "gateways.js"),
    "gateway": ("网关 Gateways", "gateway.js"),
}


@cache
def _page(name: str) -> str:
    """The whole document of a signed-in page (only this module's constants go into it)."""
    title, script = PAGES[name]
    main = (HERE / "pages" / f"{name}.html").read_text(encoding="utf-8").strip()
    layout = (HERE / "layout.html").read_text(encoding="utf-8")
    return (
        layout.replace("{{title}}", title).replace("{{script}}", script).replace("{{main}}", main)
    )


async def _signed_in_page(
    request: Request, storage: StorageDep, credentials: CredentialsDep, name: str
) -> Response:
    token = token_of(request, credentials)
    if not token or await authenticate(storage, token) is None:
        return RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    return HTMLResponse(_page(name), headers={"Cache-Control": "no-store"})


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, storage: StorageDep, credentials: CredentialsDep) -> Response:
    """Stations on a map and as a ranked list."""
    return await _signed_in_page(request, storage, credentials, "index")


@router.get("/station/{station_id}", response_class=HTMLResponse)
async def station(
    station_id: str, request: Request, storage: StorageDep, credentials: CredentialsDep
) -> Response:
    """One station's charts (the page reads the id from its URL and checks it)."""
    return await _signed_in_page(request, storage, credentials, "station")


@router.get("/gateways", response_class=HTMLResponse)
async def gateways(request: Request, storage: StorageDep, credentials: CredentialsDep) -> Response:
    """Every gateway in scope with presence and device health."""
    return await _signed_in_page(request, storage, credentials, "gateways")


@router.get("/gateway/{gateway_id}", response_class=HTMLResponse)
async def technician(
    gateway_id: str, request: Request, storage: StorageDep, credentials: CredentialsDep
) -> Response:
    """The technician's view of one gateway (the page reads the id from its URL)."""
    return await _signed_in_page(request, storage, credentials, "gateway")


@router.get("/alarms", response_class=HTMLResponse)
async def alarms(request: Request, storage: StorageDep, credentials: CredentialsDep) -> Response:
    """Open and recent alarms, to acknowledge and resolve."""
    return await _signed_in_page(request, storage, credentials, "alarms")


@router.get("/docs")
async def swagger_ui() -> HTMLResponse:
    """Swagger UI from the vendored ``swagger-ui-dist``."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Shanshui cloud API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
    )


@router.get("/redoc")
async def redoc() -> HTMLResponse:
    """ReDoc from the vendored ``redoc`` bundle, without web fonts."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="Shanshui cloud API",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )
