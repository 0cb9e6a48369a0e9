"""OpenAI chat/completions <-> Anthropic Messages (`POST /v1/messages`).

Messages wants the system prompt top-level, strictly alternating user/assistant turns made
of content blocks, and `max_tokens` always; tool results travel as `tool_result` blocks in a
user turn. `response_format` becomes one forced tool whose input is the answer, turned back
into message content on the way out.
"""

from __future__ import annotations

import base64
from typing import Any

from router.translate.common import (
    FORMAT_TOOL,
    ImageRef,
    ToolCallStream,
    TranslationError,
    add_tool_use,
    answer,
    append_turn,
    content_parts,
    function_tools,
    max_tokens_of,
    parse_arguments,
    response_schema,
    stop_list,
    text_of,
    usage_obj,
)

FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def _image_block(ref: ImageRef) -> dict[str, Any]:
    if ref.data is not None:
        source = {
            "type": "base64",
            "media_type": ref.media_type,
            "data": base64.b64encode(ref.data).decode(),
        }
    else:
        source = {"type": "url", "url": ref.url}
    return {"type": "image", "source": source}


def _content_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    return content_parts(content, param, lambda t: {"type": "text", "text": t}, _image_block)


def _turns(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, alternating turns), merging consecutive same-role messages."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    for i, msg in enumerate(messages):
        role = msg.get("role")
        param = f"messages[{i}].content"
        if role in ("system", "developer"):
            text = text_of(msg.get("content"))
            if text:
                system.append({"type": "text", "text": text})
        elif role == "user":
            append_turn(turns, "user", _content_blocks(msg.get("content"), param))
        elif role == "assistant":
            blocks = _content_blocks(msg.get("content"), param)
            for k, call in enumerate(msg.get("tool_calls") or []):
                fn = call.get("function") or {}
                blocks.append(
                    {
                        "type": "tool_use",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "input": parse_arguments(
                            fn.get("arguments"), f"messages[{i}].tool_calls[{k}]"
                        ),
                    }
                )
            append_turn(turns, "assistant", blocks)
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": msg.get("tool_call_id"),
                "content": text_of(msg.get("content")) or "",
            }
            append_turn(turns, "user", [result])
        else:
            raise TranslationError(f"role {role!r} is not supported", f"messages[{i}].role")
    if turns and turns[0]["role"] != "user":
        # Messages must open with a user turn.
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": "(continue)"}]})
    return system, turns


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    out: dict[str, Any] | None
    if choice is None:
        out = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "required":
        out = {"type": "any"}
    elif choice == "none":
        out = {"type": "none"}
    elif isinstance(choice, dict) and (choice.get("function") or {}).get("name"):
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise TranslationError("tool_choice is not understood", "tool_choice")
    if parallel is False:
        out = dict(out or {"type": "auto"})
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


def to_request(body: dict[str, Any], model: str, *, stream: bool) -> dict[str, Any]:
    system, turns = _turns(list(body.get("messages") or []))
    req: dict[str, Any] = {"model": model, "max_tokens": max_tokens_of(body), "messages": turns}
    if system:
        req["system"] = system
    if body.get("temperature") is not None:
        # OpenAI's range is 0..2, Anthropic's 0..1.
        req["temperature"] = min(1.0, float(body["temperature"]))
    if body.get("top_p") is not None:
        req["top_p"] = body["top_p"]
    if stops := stop_list(body):
        req["stop_sequences"] = stops
    if isinstance(body.get("user"), str):
        req["metadata"] = {"user_id": body["user"]}
    tools = [
        {
            "name": fn["name"],
            "description": fn.get("description") or "",
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        for fn in function_tools(body)
    ]
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    fmt = response_schema(body)
    if fmt is not None:
        name, schema = fmt
        tools.append(
            {"name": FORMAT_TOOL, "description": f"Answer as {name}", "input_schema": schema}
        )
        if choice is None or choice.get("type") == "none":
            choice = {"type": "tool", "name": FORMAT_TOOL}
    if tools:
        req["tools"] = tools
    if choice is not None and tools:
        req["tool_choice"] = choice
    if stream:
        req["stream"] = True
    return req


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    read = int(raw.get("cache_read_input_tokens") or 0)
    written = int(raw.get("cache_creation_input_tokens") or 0)
    prompt = int(raw.get("input_tokens") or 0) + read + written
    return usage_obj(prompt, int(raw.get("output_tokens") or 0), read, written)


def from_response(obj: dict[str, Any], model: str) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in obj.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "tool_use":
            add_tool_use(texts, calls, block.get("id"), block.get("name"), block.get("input"))
    finish = FINISH.get(obj.get("stop_reason") or "end_turn", "stop")
    return answer(model, texts, calls, finish, _usage(obj.get("usage") or {}))


class StreamTranslator(ToolCallStream):
    """Anthropic stream events in, OpenAI chunk dicts out (`feed` per event)."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self._usage: dict[str, Any] = {}

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type") or event
        if kind == "message_start":
            self._usage.update((data.get("message") or {}).get("usage") or {})
            return [self.out.chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") != "tool_use":
                return []
            return self.start_tool(int(data.get("index", 0)), block.get("id"), block.get("name"))
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            if delta.get("type") == "text_delta":
                return [self.out.chunk({"content": delta.get("text") or ""})]
            if delta.get("type") == "input_json_delta":
                piece = delta.get("partial_json") or ""
                return self.tool_delta(int(data.get("index", 0)), piece)
            return []
        if kind == "message_delta":
            self._usage.update(data.get("usage") or {})
            reason = (data.get("delta") or {}).get("stop_reason") or "end_turn"
            return self.finish(FINISH.get(reason, "stop"))
        if kind == "message_stop":
            self.done = True
            return [self.out.usage(_usage(self._usage))]
        if kind == "error":
            raise TranslationError("provider reported an error mid-stream", "stream")
        # ping, content_block_stop and future event types carry nothing for the caller.
        return []
