"""``/login`` and ``/logout``: the dashboard's sign-in with an API key, kept in a cookie.

Layer: HTTP router. ``POST /login`` takes the key from a form, checks it, and
sets it as an HttpOnly, SameSite=Strict cookie (Secure over HTTPS), which
authenticates the dashboard's GET requests (see :mod:`cloud.api.auth`). A login
link ``/login#key=ssk_…`` keeps the key out of server logs: the page posts the
fragment itself. No key is ever logged.
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cloud.api.auth import COOKIE_NAME
from cloud.api.deps import StorageDep
from cloud.storage.keys import authenticate

router = APIRouter(tags=["dashboard"], include_in_schema=False)

PAGE = Path(__file__).resolve().parents[2] / "dashboard" / "login.html"
MAX_FORM_BYTES = 4096
COOKIE_MAX_AGE_S = 12 * 3600


@cache
def _template() -> str:
    return PAGE.read_text(encoding="utf-8")


def login_page(message: str = "", code: int = status.HTTP_200_OK) -> HTMLResponse:
    """The sign-in form, with ``message`` under the field."""
    return HTMLResponse(_template().replace("{{message}}", html.escape(message)), status_code=code)


@router.get("/login")
async def get_login() -> HTMLResponse:
    """The sign-in form."""
    return login_page()


@router.post("/login")
async def post_login(request: Request, storage: StorageDep) -> Response:
    """Check the key of the form; on success set the cookie and go to the dashboard."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return login_page("That is not an API key.", status.HTTP_401_UNAUTHORIZED)
    form = parse_qs(body.decode("utf-8", "replace"))
    token = (form.get("key") or [""])[0].strip()
    key = await authenticate(storage, token) if token else None
    if key is None:
        return login_page("This key is unknown, revoked or expired.", status.HTTP_401_UNAUTHORIZED)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
async def post_logout() -> Response:
    """Forget the cookie."""
    response = RedirectResponse("/login", status_code=status.HTTP_303_SEE_OTHER)
    response.delete_cookie(COOKIE_NAME, path="/")
    return response
