"""Typed API errors and the handlers that turn every failure into the OpenAI error shape.

Clients only ever see `{"error": {"type", "message", "code"}}`: no stack trace, no key, no
internal address. Messages are written for the caller, never copied from an exception.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

logger = logging.getLogger("motherfluxer.router")


class APIError(Exception):
    """An error the client is meant to see."""

    status = 500
    type = "internal_error"
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers = headers or {}


class BadRequest(APIError):
    status, type, code = 400, "invalid_request_error", "bad_request"


class Unauthorized(APIError):
    status, type, code = 401, "authentication_error", "invalid_api_key"


class Forbidden(APIError):
    status, type, code = 403, "permission_error", "forbidden"


class NotFound(APIError):
    status, type, code = 404, "not_found_error", "not_found"


class Conflict(APIError):
    status, type, code = 409, "conflict_error", "conflict"


class PayloadTooLarge(APIError):
    status, type, code = 413, "invalid_request_error", "payload_too_large"


class Unprocessable(APIError):
    status, type, code = 422, "invalid_request_error", "validation_error"


class RateLimited(APIError):
    status, type, code = 429, "rate_limit_error", "rate_limited"


class UpstreamError(APIError):
    status, type, code = 502, "upstream_error", "bad_gateway"


class ServiceUnavailable(APIError):
    status, type, code = 503, "service_unavailable", "no_healthy_instance"


class UpstreamTimeout(APIError):
    status, type, code = 504, "timeout_error", "upstream_timeout"


# A message quoting caller input (a model id) never echoes more than this of it.
MAX_MESSAGE_CHARS = 500


def error_body(type_: str, message: str, code: str) -> bytes:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return orjson.dumps({"error": {"type": type_, "message": message, "code": code}})


def error_response(err: APIError, extra_headers: dict[str, str] | None = None) -> Response:
    headers = dict(err.headers)
    if extra_headers:
        headers.update(extra_headers)
    return Response(
        error_body(err.type, err.message, err.code),
        status_code=err.status,
        media_type="application/json",
        headers=headers,
    )


_STATUS_TYPES = {
    400: ("invalid_request_error", "bad_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("not_found_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    413: ("invalid_request_error", "payload_too_large"),
    422: ("invalid_request_error", "validation_error"),
    429: ("rate_limit_error", "rate_limited"),
}


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        # The message of a pydantic error never contains the submitted value, only its rule.
        parts.append(f"{loc or 'body'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "request body is invalid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(_: Request, exc: APIError) -> Response:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        for err in exc.errors():
            if err.get("type") == "json_invalid":
                return error_response(
                    BadRequest("request body is not valid JSON", code="invalid_json")
                )
        return error_response(Unprocessable(_describe_validation(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        type_, code = _STATUS_TYPES.get(exc.status_code, ("api_error", "error"))
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such route"
        return Response(
            error_body(type_, message, code),
            status_code=exc.status_code,
            media_type="application/json",
            headers=getattr(exc, "headers", None) or {},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # Logged with its trace for operators; the client gets a generic message.
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(APIError("internal error; the request was not completed"))
