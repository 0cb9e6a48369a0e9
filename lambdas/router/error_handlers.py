"""Turns every failure the app meets into the one error shape of `router.errors`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from router.errors import APIError, BadRequest, error_body

logger = logging.getLogger("motherfluxer.router")

_STATUS_TYPES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    422: ("invalid_request_error", "invalid_parameter"),
    429: ("rate_limit_error", "rate_limited"),
}


def error_response(err: APIError, extra_headers: dict[str, str] | None = None) -> Response:
    headers = err.headers()
    if extra_headers:
        headers.update(extra_headers)
    return Response(
        error_body(err.type, err.message, err.code, err.param),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )


def schema_error(errors: list[dict]) -> BadRequest:
    """A request the schema rejects: 400, like OpenAI, with `param` naming the first field."""
    parts: list[str] = []
    params: list[str] = []
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        params.append(loc)
        # The message of a pydantic error never contains the submitted value, only its rule.
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    message = "; ".join(parts) or "request body is invalid"
    if any(err.get("type") == "json_invalid" for err in errors):
        return BadRequest("request body is not valid JSON", code="invalid_json")
    return BadRequest(message, code="invalid_parameter", param=params[0] if params else None)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette names only the first route's,
    so `GET` and `DELETE` on one path, declared as two routes, would show as `GET` alone.
    Each method is probed, since included routers keep their routes to themselves."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]
    return ", ".join(allowed)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        return error_response(schema_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        type_, code = _STATUS_TYPES.get(exc.status_code, ("api_error", "error"))
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return Response(
            error_body(type_, message, code),
            status_code=exc.status_code,
            media_type="application/json",
            headers=headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged with its trace for operators; the client gets a generic message.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(APIError("internal error; the request was not completed"))
