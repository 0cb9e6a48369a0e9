"""Small helpers shared by the ingress translators: ids, clocks and named SSE events."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class ChunkDelta:
    """What one chat chunk adds to a stream being re-shaped into another protocol's events."""

    usage: tuple[int, int]
    text: str
    tool_calls: list[dict[str, Any]]
    finish_reason: Any


def chunk_delta(chunk: dict[str, Any], usage: tuple[int, int]) -> ChunkDelta:
    """The chunk's additions; `usage` is kept when the chunk carries none."""
    # Usage rides on its own final chunk, so most chunks must not reset the running count.
    raw = chunk.get("usage")
    if isinstance(raw, dict):
        usage = int(raw.get("prompt_tokens") or 0), int(raw.get("completion_tokens") or 0)
    choice = chat_choice(chunk)
    delta = choice.get("delta") or {}
    text = delta.get("content")
    return ChunkDelta(
        usage=usage,
        text=text if isinstance(text, str) else "",
        tool_calls=delta.get("tool_calls") or [],
        finish_reason=choice.get("finish_reason"),
    )


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
