"""The one error hierarchy of the router and the accounts package, and its one wire shape.

Clients only ever see `{"error": {"type", "message", "param", "code"}}` (`param` names the
offending request field, or is null): no stack trace, no key, no internal address. Messages are
written for the caller, never copied from an exception. This module imports no web framework,
so the accounts package and the Lambdas without FastAPI can use it; `router.error_handlers`
installs the renderers on the app.
"""

from __future__ import annotations

from typing import Any

import orjson

from routing.retry import Stop


class APIError(Exception):
    """An error the client is meant to see."""

    status: int = 500
    type: str = "server_error"
    code: str = "internal_error"
    param: str | None = None

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if param is not None:
            self.param = param
        self.retry_after = retry_after
        self._headers = dict(headers or {})
        if retry_after is not None:
            self._headers["Retry-After"] = str(retry_after)

    def headers(self) -> dict[str, str]:
        return dict(self._headers)

    def add_headers(self, headers: dict[str, str]) -> None:
        self._headers.update(headers)

    def to_body(self) -> dict[str, dict[str, Any]]:
        return error_dict(self.type, self.message, self.code, self.param)


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
    """Well-formed and schema-valid, but nothing can serve it (e.g. no capable model)."""

    status, type, code = 422, "invalid_request_error", "unprocessable"


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


def error_dict(
    type_: str, message: str, code: str, param: str | None = None
) -> dict[str, dict[str, Any]]:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 1] + "…"
    return {"error": {"type": type_, "message": message, "param": param, "code": code}}


def error_body(type_: str, message: str, code: str, param: str | None = None) -> bytes:
    return orjson.dumps(error_dict(type_, message, code, param))


# How the dispatcher's typed give-ups (routing.retry.Stop) read to a client.
_GIVE_UPS: dict[str, tuple[type[APIError], str, str]] = {
    "no_healthy_instance": (
        ServiceUnavailable,
        "no_healthy_instance",
        "no healthy instance can serve this request right now",
    ),
    "retry_budget_exhausted": (
        ServiceUnavailable,
        "retry_budget_exhausted",
        "upstream instances are failing and the retry budget is spent",
    ),
    "upstream_rate_limited": (
        RateLimited,
        "upstream_rate_limited",
        "the model instances are overloaded; retry later",
    ),
    "upstream_timeout": (
        UpstreamTimeout,
        "upstream_timeout",
        "the model instance did not answer in time",
    ),
}


def give_up_error(stop: Stop, headers: dict[str, str]) -> APIError:
    cls, code, message = _GIVE_UPS.get(
        stop.reason, (UpstreamError, "upstream_failed", "the model instance failed to answer")
    )
    err = cls(message, code=code, headers=headers, retry_after=stop.retry_after_s)
    if stop.status is not None:
        err.status = stop.status
    return err
