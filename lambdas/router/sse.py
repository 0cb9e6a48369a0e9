"""Small helpers for the OpenAI SSE stream the router relays."""

from __future__ import annotations

from typing import Any

import orjson

DONE = b"data: [DONE]\n\n"


def event_json(event: bytes) -> Any | None:
    """The JSON payload of one SSE event, None for [DONE], comments or non-JSON data."""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                return None
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
    return None


def is_malformed(event: bytes) -> bool:
    """True when an event carries a data line that is neither JSON nor `[DONE]`."""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                continue
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                return True
    return False


def is_usage_only(obj: Any) -> bool:
    return isinstance(obj, dict) and not obj.get("choices") and obj.get("usage") is not None


def error_event(type_: str, message: str, code: str) -> bytes:
    body = orjson.dumps({"error": {"type": type_, "message": message, "code": code}})
    return b"data: " + body + b"\n\n"
