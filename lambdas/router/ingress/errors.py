"""Error shapes of the ingress protocols.

The Responses API answers errors in OpenAI's shape, `param` always present; the Messages API
answers `{"type": "error", "error": {"type", "message"}}` with Anthropic's status codes. The
router's own errors (OpenAI shape, any status) are translated here, in one place.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.errors import APIError, error_dict

# Router status -> (Anthropic status, Anthropic error type).
_ANTHROPIC: dict[int, tuple[int, str]] = {
    400: (400, "invalid_request_error"),
    401: (401, "authentication_error"),
    402: (402, "billing_error"),
    403: (403, "permission_error"),
    404: (404, "not_found_error"),
    405: (405, "invalid_request_error"),
    409: (409, "invalid_request_error"),
    413: (413, "invalid_request_error"),
    422: (400, "invalid_request_error"),
    429: (429, "rate_limit_error"),
    500: (500, "api_error"),
    502: (500, "api_error"),
    # Anthropic's "overloaded" status: nothing can take the request right now.
    503: (529, "overloaded_error"),
    504: (504, "timeout_error"),
}


class IngressError(APIError):
    """A request the translator cannot carry onto the chat pipeline, or one it rejects."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        status: int = 400,
        type_: str = "invalid_request_error",
        code: str | None = "invalid_value",
    ) -> None:
        super().__init__(message, status=status, param=param)
        self.type = type_
        self.code = code  # type: ignore[assignment]


def openai_error_body(
    type_: str, message: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return error_dict(type_, message, code, param)


def parse_openai_error(body: bytes, status: int) -> dict[str, Any]:
    """The `error` object of a router error body, `param` and `code` filled in when absent."""
    inner: Any = None
    try:
        obj = orjson.loads(body)
        inner = obj.get("error") if isinstance(obj, dict) else None
    except orjson.JSONDecodeError:
        pass
    if not isinstance(inner, dict):
        inner = {"message": "request failed", "type": "api_error"}
    message = inner.get("message") if isinstance(inner.get("message"), str) else "request failed"
    return {
        "message": message,
        "type": str(
            inner.get("type") or ("invalid_request_error" if status < 500 else "api_error")
        ),
        "param": inner.get("param") if isinstance(inner.get("param"), str) else None,
        "code": inner.get("code") if isinstance(inner.get("code"), str) else None,
    }


def anthropic_error(status: int, message: str) -> tuple[int, dict[str, Any]]:
    """Anthropic's status and body for a router status and message."""
    mapped = _ANTHROPIC.get(status)
    if mapped is None:
        mapped = (400, "invalid_request_error") if status < 500 else (500, "api_error")
    return mapped[0], {"type": "error", "error": {"type": mapped[1], "message": message}}
