"""Serves the console's static files at `/ui/` (admin pages at `/ui/admin`) and local sign-up.

In AWS the same files are published to S3 behind CloudFront (infra/console_stack.py); the
router copy is what `make run` users open. Pages get a strict Content-Security-Policy: only our
own scripts and styles, no inline code, and API calls only to this origin (or the configured
API origin when the console is hosted elsewhere).
"""

from __future__ import annotations

import mimetypes
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, RedirectResponse, Response

from router.console.cors import install_cors
from router.errors import Forbidden, NotFound

__all__ = ["build_router", "install_cors", "router"]

STATIC = Path(__file__).resolve().parent / "static"
PAGES = {"": "index.html", "admin": "admin.html", "admin/": "admin.html"}
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}


def hosted_ui_origin(domain: str) -> str:
    """Where Cognito's hosted UI lives: a bare domain means https (a full origin is kept)."""
    domain = domain.strip().rstrip("/")
    if not domain:
        return ""
    return domain if domain.startswith(("https://", "http://")) else f"https://{domain}"


def content_security_policy(api_origin: str = "", cognito_origin: str = "") -> str:
    # The page itself exchanges the PKCE code at the hosted UI's /oauth2/token.
    extra = [o for o in (api_origin, cognito_origin) if o]
    connect = " ".join(["'self'", *extra])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def local_signup_enabled(env: dict[str, str] | None = None) -> bool:
    """On by default only for the local stage; `MOTHERFLUXER_LOCAL_SIGNUP` overrides either way."""
    env = dict(os.environ) if env is None else env
    raw = env.get("MOTHERFLUXER_LOCAL_SIGNUP", "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    return env.get("MOTHERFLUXER_STAGE", "local") == "local"


def console_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """What the pages need to know about their host (the S3 copy gets the same document)."""
    env = dict(os.environ) if env is None else env
    cognito = None
    if env.get("MOTHERFLUXER_COGNITO_DOMAIN") and env.get("MOTHERFLUXER_COGNITO_CLIENT_ID"):
        cognito = {
            "domain": env["MOTHERFLUXER_COGNITO_DOMAIN"],
            "client_id": env["MOTHERFLUXER_COGNITO_CLIENT_ID"],
        }
    return {
        "api_base": env.get("MOTHERFLUXER_CONSOLE_API_BASE", ""),
        "local_signup": local_signup_enabled(env),
        "cognito": cognito,
    }


class SignUp(BaseModel):
    name: str = Field(min_length=1, max_length=200)


def _static_response(relative: str) -> Response:
    target = (STATIC / relative).resolve()
    # Only files inside the static folder, whatever `..` or links the path holds.
    if STATIC not in target.parents or not target.is_file():
        raise NotFound("no such console page", code="not_found")
    media = TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0]
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    if target.suffix == ".html":
        headers["Content-Security-Policy"] = content_security_policy(
            os.environ.get("MOTHERFLUXER_CONSOLE_API_BASE", ""),
            hosted_ui_origin(os.environ.get("MOTHERFLUXER_COGNITO_DOMAIN", "")),
        )
        headers["X-Frame-Options"] = "DENY"
    return Response(target.read_bytes(), media_type=media, headers=headers)


def build_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/ui")
    async def ui_root() -> Response:
        return RedirectResponse("/ui/", status_code=307)

    @router.get("/ui/config.json")
    async def ui_config() -> JSONResponse:
        return JSONResponse(console_config(), headers={"Cache-Control": "no-cache"})

    @router.post("/ui/signup", status_code=201)
    async def ui_signup(body: SignUp, request: Request) -> JSONResponse:
        """Local sign-up: a registered user and its first key (shown once)."""
        if not local_signup_enabled():
            raise Forbidden("local sign-up is turned off here", code="signup_disabled")
        accounts = getattr(getattr(request.app.state, "policy", None), "service", None)
        if accounts is None:
            raise NotFound("accounts are not enabled on this router", code="accounts_disabled")
        user_id = await accounts.create_user(body.name, "registered")
        key = await accounts.create_key(user_id, (), None, None)
        return JSONResponse(
            {"user_id": user_id, "key": key, "prefix": key.split("_")[1]},
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @router.get("/ui/{path:path}")
    async def ui_file(path: str) -> Response:
        return _static_response(PAGES.get(path, path))

    return router


router = build_router()
