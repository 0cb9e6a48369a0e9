"""Refuses NUL characters at the edge: in the path, the query string and JSON bodies.

PostgreSQL text cannot hold U+0000, so a NUL that reached a query used to surface as a 500
(`psycopg.DataError`) after the request had half happened. Nothing the API accepts needs one,
so every request carrying one gets a 400 in the JSON error shape before any route runs.

Bodies are buffered here (the body-limit middleware outside this one has already bounded
them) and replayed to the app unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.exceptions import HTTPException

from router.errors import error_body

# `\u0000` as a JSON escape, not preceded by an escaping backslash (`\\u0000` is text).
_JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_MESSAGE = "NUL characters (U+0000) are not accepted in paths, query strings or bodies"


def has_nul(data: bytes) -> bool:
    return b"\x00" in data or (b"\\u0000" in data and _JSON_NUL.search(data) is not None)


def _url_has_nul(scope: dict[str, Any]) -> bool:
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    query = scope.get("query_string") or b""
    for part in (raw_path, query):
        lowered = part.lower()
        if b"\x00" in part or b"%00" in lowered:
            return True
    return "\x00" in scope.get("path", "")


class NulGuardMiddleware:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _url_has_nul(scope):
            await _reject(send)
            return
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE") and not _has_body(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            try:
                message = await receive()
            except HTTPException as exc:
                # The body limit counts arriving bytes and raises: answer for it here, since
                # this runs outside the app's exception handlers.
                await _reject(send, exc.status_code, str(exc.detail), "payload_too_large")
                return
            if message["type"] != "http.request":
                # The client went away before the body ended: let the app see that.
                replay_first: dict[str, Any] | None = message
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                replay_first = None
                break
        body = b"".join(chunks)
        if has_nul(body):
            await _reject(send)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                if replay_first is not None:
                    return replay_first
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _has_body(scope: dict[str, Any]) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


async def _reject(
    send: Any, status: int = 400, message: str = _MESSAGE, code: str = "invalid_characters"
) -> None:
    body = error_body("invalid_request_error", message, code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
