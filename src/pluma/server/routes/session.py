"""``POST /api/session``: how the web page presents the access token.

A browser cannot add an ``Authorization`` header to page loads or image
requests, so when the server requires a token the page asks the user for it
once and posts it here; a correct token comes back as the ``pluma_token``
cookie (HttpOnly, SameSite=Strict, so scripts and other sites never see or
send it), which the security middleware accepts like the header.

| route                  | does                                                  |
|------------------------|-------------------------------------------------------|
| ``POST /api/session``  | ``{"token": "..."}`` → 204 + cookie, or 401           |
| ``DELETE /api/session``| forget the cookie (204)                               |
| ``GET /api/session``   | ``{"token_required": bool, "authenticated": bool}``   |

``POST`` is the one ``/api`` route the middleware lets through without a
token (the token is its body); Host and Origin checks still apply.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from pluma.server.http.security import TOKEN_COOKIE
from pluma.server.services import Services, get_services

router = APIRouter(tags=["session"])


class SessionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(description="the server's access token")


def _matches(given: str | None, token: str | None) -> bool:
    return bool(given and token) and hmac.compare_digest(str(given).encode(), str(token).encode())


@router.post("/api/session", status_code=204)
def open_session(
    body: SessionIn, request: Request, state: Services = Depends(get_services)
) -> Response:
    token: str | None = state.settings.token
    if token is None:
        return Response(status_code=204)  # nothing to present
    if not _matches(body.token, token):
        raise HTTPException(
            401,
            detail="token: wrong access token; use the one printed when the server started or set in PLUMA_TOKEN",
        )
    response = Response(status_code=204)
    response.set_cookie(
        TOKEN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.delete("/api/session", status_code=204)
def close_session() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(TOKEN_COOKIE, path="/", samesite="strict", httponly=True)
    return response


@router.get("/api/session")
def session_state(request: Request, state: Services = Depends(get_services)) -> dict[str, Any]:
    token: str | None = state.settings.token
    return {
        "token_required": token is not None,
        "authenticated": token is None or _matches(request.cookies.get(TOKEN_COOKIE), token),
    }
