"""Chat completion chunks -> the Anthropic Messages event stream.

`message_start`, then per block `content_block_start`, its deltas (`text_delta` or
`input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason and usage)
and `message_stop`. A stream that breaks off ends with an `error` event, as Anthropic's does.
"""

from __future__ import annotations

from typing import Any

from router.ingress.errors import anthropic_error
from router.ingress.messages_api import STOP_REASONS, message_shell
from router.ingress.wire import chunk_delta, named_event, new_id


class MessagesStream:
    def __init__(self, model: str) -> None:
        self.model = model
        self.message_id = new_id("msg")
        self._block = -1
        self._block_kind: str | None = None
        self._calls: dict[int, int] = {}
        self._finish_reason: str | None = None
        self._usage = (0, 0)

    def start(self) -> list[bytes]:
        shell = message_shell(self.model, self.message_id)
        return [
            named_event("message_start", {"type": "message_start", "message": shell}),
            named_event("ping", {"type": "ping"}),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        part = chunk_delta(chunk, self._usage)
        self._usage = part.usage
        if text := part.text:
            if self._block_kind != "text":
                out.extend(self._open({"type": "text", "text": ""}, "text"))
            out.append(self._delta({"type": "text_delta", "text": text}))
        for call in part.tool_calls:
            index = int(call.get("index") or 0)
            fn = call.get("function") or {}
            if index not in self._calls:
                block = {
                    "type": "tool_use",
                    "id": call.get("id") or new_id("toolu"),
                    "name": fn.get("name") or "",
                    "input": {},
                }
                out.extend(self._open(block, "tool_use"))
                self._calls[index] = self._block
            if self._calls[index] != self._block:
                # Chat streams one call after another; an interleaved delta is dropped
                # rather than sent into the wrong block.
                continue
            piece = fn.get("arguments")
            if isinstance(piece, str) and piece:
                out.append(self._delta({"type": "input_json_delta", "partial_json": piece}))
        if part.finish_reason:
            self._finish_reason = part.finish_reason
        return out

    def _open(self, block: dict[str, Any], kind: str) -> list[bytes]:
        out = self._close_block()
        self._block += 1
        self._block_kind = kind
        out.append(
            named_event(
                "content_block_start",
                {"type": "content_block_start", "index": self._block, "content_block": block},
            )
        )
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return named_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": self._block, "delta": delta},
        )

    def _close_block(self) -> list[bytes]:
        if self._block_kind is None:
            return []
        self._block_kind = None
        return [
            named_event("content_block_stop", {"type": "content_block_stop", "index": self._block})
        ]

    def close(self) -> list[bytes]:
        out = self._close_block()
        stop = STOP_REASONS.get(self._finish_reason or "stop", "end_turn")
        out.append(
            named_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"input_tokens": self._usage[0], "output_tokens": self._usage[1]},
                },
            )
        )
        out.append(named_event("message_stop", {"type": "message_stop"}))
        return out

    def fail(self, message: str, code: str | None = None) -> list[bytes]:
        # A mid-stream failure is the instance's, never the caller's: Anthropic's api_error.
        _, body = anthropic_error(502, message)
        return [named_event("error", body)]
