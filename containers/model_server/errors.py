"""OpenAI-shaped error responses; nothing internal (trace, path, address) reaches a client."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    500: "server_error",
    503: "service_unavailable",
    504: "timeout_error",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        *,
        error_type: str | None = None,
        retry_after: int | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type or _TYPES.get(status, "server_error")
        self.retry_after = retry_after
        self.param = param

    def body(self) -> dict[str, dict[str, str | None]]:
        # `param` is always present (null allowed), as in OpenAI's error object.
        return {
            "error": {
                "type": self.error_type,
                "message": self.message,
                "param": self.param,
                "code": self.code,
            }
        }

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def describe_validation(exc: ValidationError | RequestValidationError) -> str:
    """Field paths and reasons only: the offending input is not echoed back."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request body"


def first_param(exc: ValidationError | RequestValidationError) -> str | None:
    """The top-level field the first error is about, as OpenAI names it in `param`."""
    for err in exc.errors()[:1]:
        loc = [p for p in err.get("loc", ()) if p != "body"]
        if loc:
            return str(loc[0])
    return None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(422, describe_validation(exc), "invalid_parameters").response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = "not found" if exc.status_code == 404 else str(exc.detail)
        code = "not_found" if exc.status_code == 404 else "http_error"
        return ApiError(exc.status_code, message, code).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return ApiError(500, "internal server error", "internal_error").response()
