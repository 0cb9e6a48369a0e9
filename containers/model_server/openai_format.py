"""OpenAI response and stream-chunk shapes, built as plain dicts."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

Kind = Literal["chat", "text"]


def new_id(kind: Kind) -> str:
    return ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_body(
    kind: Kind,
    *,
    response_id: str,
    model: str,
    text: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    fingerprint: str,
    tool_calls: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    if kind == "chat":
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool_calls else text,
            "refusal": None,
        }
        if tool_calls:
            message["tool_calls"] = tool_calls
        choice: dict[str, Any] = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
        }
        obj = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}
        obj = "text_completion"
    return {
        "id": response_id,
        "object": obj,
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": fingerprint,
        "choices": [choice],
        "usage": usage(prompt_tokens, completion_tokens),
    }


class ChunkWriter:
    """Formats one stream: role chunk, content chunks, finish chunk, optional usage, [DONE]."""

    def __init__(
        self, kind: Kind, model: str, fingerprint: str, include_usage: bool, response_id: str
    ) -> None:
        self.kind = kind
        self.model = model
        self.fingerprint = fingerprint
        self.include_usage = include_usage
        self.id = response_id
        self.created = int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], usage_value: Any = None) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk" if self.kind == "chat" else "text_completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": self.fingerprint,
            "choices": choices,
        }
        if self.include_usage:
            # OpenAI sends usage: null on every chunk but the last when usage is requested.
            body["usage"] = usage_value
        return sse(body)

    def _choice(self, text: str | None, finish_reason: str | None, role: bool = False) -> dict:
        if self.kind == "chat":
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if text is not None:
                delta["content"] = text
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish_reason}

    def opening(self) -> bytes:
        if self.kind == "chat":
            return self._chunk([self._choice("", None, role=True)])
        return b""

    def content(self, text: str) -> bytes:
        return self._chunk([self._choice(text, None)])

    def tool_calls(self, deltas: list[dict[str, Any]]) -> bytes:
        choice = {"index": 0, "delta": {"tool_calls": deltas}, "logprobs": None}
        return self._chunk([{**choice, "finish_reason": None}])

    def finish(self, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> bytes:
        out = self._chunk([self._choice(None if self.kind == "chat" else "", finish_reason)])
        if self.include_usage:
            out += self._chunk([], usage(prompt_tokens, completion_tokens))
        return out + b"data: [DONE]\n\n"


def sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
