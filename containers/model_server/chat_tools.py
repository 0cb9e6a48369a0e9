"""A chat answer that may be tool calls: buffered assembly and the streamed writer."""

from __future__ import annotations

from typing import Any

from model_server.openai_format import ChunkWriter
from model_server.tool_calls import ToolCallDeltas, is_tool_text, parse_calls


def buffered_tool_answer(text: str, finish_reason: str) -> tuple[list[dict[str, Any]], str]:
    """(tool_calls, finish_reason) for a buffered answer to a request that offered tools."""
    if not is_tool_text(text):
        return [], finish_reason
    calls = parse_calls(text)
    if calls and finish_reason == "stop":
        return calls, "tool_calls"
    return calls, finish_reason


class ToolChatWriter:
    """Streams content as usual, or, once the answer turns out to be tool calls, `tool_calls`
    deltas; the first character decides, as the grammar lets text never start with `<`."""

    def __init__(self, chunks: ChunkWriter) -> None:
        self.chunks = chunks
        self.mode: str | None = None
        self.deltas = ToolCallDeltas()

    def opening(self) -> bytes:
        return self.chunks.opening()

    def content(self, text: str) -> bytes:
        if self.mode is None and text:
            self.mode = "tools" if is_tool_text(text) else "text"
        if self.mode == "text":
            return self.chunks.content(text)
        deltas = self.deltas.feed(text)
        return self.chunks.tool_calls(deltas) if deltas else b""

    def finish(self, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> bytes:
        out = b""
        if self.mode == "tools":
            rest = self.deltas.flush()
            if rest:
                out += self.chunks.tool_calls(rest)
            if self.deltas.count and finish_reason == "stop":
                finish_reason = "tool_calls"
        return out + self.chunks.finish(finish_reason, prompt_tokens, completion_tokens)
