"""Small helpers shared by the ingress translators: ids, clocks and named SSE events."""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson


def new_id(prefix: str) -> str:
    """An id in the style the protocol uses (`resp_…`, `msg_…`, `toolu_…`), fresh every time."""
    return f"{prefix}_{secrets.token_hex(16)}"


def now() -> int:
    return int(time.time())


def named_event(name: str, payload: dict[str, Any]) -> bytes:
    """One SSE event with an `event:` line: both the Responses and the Messages streams use one,
    and the anthropic SDK ignores events without it."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def chat_choice(obj: dict[str, Any]) -> dict[str, Any]:
    choices = obj.get("choices") or []
    first = choices[0] if choices else {}
    return first if isinstance(first, dict) else {}


def chat_usage(obj: dict[str, Any] | None) -> tuple[int, int]:
    usage = (obj or {}).get("usage") if isinstance(obj, dict) else None
    if not isinstance(usage, dict):
        return 0, 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


def text_of(content: Any) -> str:
    """The text of a string or of a list of text-bearing parts (any protocol's spelling)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    pieces = []
    for part in content:
        if isinstance(part, dict) and isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif isinstance(part, str):
            pieces.append(part)
    return "".join(pieces)
