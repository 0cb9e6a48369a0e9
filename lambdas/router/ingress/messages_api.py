"""Anthropic Messages API <-> chat completions: the request, and the whole (buffered) answer.

Any model of the catalog can answer: the Messages request becomes a chat request (top-level
`system` first, `tool_result` blocks as `tool` messages, images as data URLs) and the chat
answer becomes a `Message` with text and `tool_use` blocks.
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from router.ingress.errors import IngressError
from router.ingress.wire import chat_choice, chat_usage, new_id, text_of

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class MessagesRequest(BaseModel):
    """`POST /v1/messages` as the anthropic SDK sends it; unknown fields are ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    max_tokens: int = Field(ge=1, le=1_000_000)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    stop_sequences: list[str] | None = Field(default=None, max_length=16)
    temperature: float | None = Field(default=None, ge=0, le=1)
    top_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0)
    tools: list[dict[str, Any]] | None = None
    tool_choice: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream: bool = False


class CountTokensRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    tools: list[dict[str, Any]] | None = None


# -- request ---------------------------------------------------------------------------------


def chat_messages(
    system: str | list[dict[str, Any]] | None, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if system:
        out.append({"role": "system", "content": text_of(system)})
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise IngressError(
                f"messages.{i}.role: Input should be 'user' or 'assistant'",
                param=f"messages.{i}.role",
            )
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif isinstance(content, list):
            out.extend(_blocks(role, content, i))
        else:
            raise IngressError(
                f"messages.{i}.content: must be a string or a list of blocks",
                param=f"messages.{i}.content",
            )
    return out


def _blocks(role: str, blocks: list[Any], i: int) -> list[dict[str, Any]]:
    tool_results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind == "image" and role == "user":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block, i, j)}})
        elif kind == "tool_use" and role == "assistant":
            calls.append(
                {
                    "id": str(block.get("id") or new_id("toolu")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name") or ""),
                        "arguments": orjson.dumps(block.get("input") or {}).decode(),
                    },
                }
            )
        elif kind == "tool_result" and role == "user":
            result = block.get("content")
            text = result if isinstance(result, str) else text_of(result)
            if block.get("is_error"):
                text = f"Error: {text}"
            tool_results.append(
                {"role": "tool", "tool_call_id": str(block.get("tool_use_id")), "content": text}
            )
        elif kind in ("thinking", "redacted_thinking"):
            # Another model's private reasoning: not something this model can read.
            continue
        else:
            raise IngressError(
                f"messages.{i}.content.{j}: block type {kind!r} is not supported here",
                param=f"messages.{i}.content.{j}.type",
            )
    out: list[dict[str, Any]] = list(tool_results)
    if role == "assistant":
        msg: dict[str, Any] = {"role": "assistant", "content": text_of(parts) or None}
        if calls:
            msg["tool_calls"] = calls
        if msg["content"] is not None or calls:
            out.append(msg)
    elif parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": text_of(parts) if only_text else parts})
    return out


def _image_url(block: dict[str, Any], i: int, j: int) -> str:
    source = block.get("source") or {}
    if source.get("type") == "base64" and source.get("data"):
        return f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
    if source.get("type") == "url" and source.get("url"):
        return str(source["url"])
    raise IngressError(
        f"messages.{i}.content.{j}.source: base64 or url images only",
        param=f"messages.{i}.content.{j}.source",
    )


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool.get("name"), str) or tool.get("type") not in (None, "custom"):
            raise IngressError(
                f"tools.{i}: only client tools with a name and input_schema are supported",
                param=f"tools.{i}",
            )
        fn: dict[str, Any] = {
            "name": tool["name"],
            "parameters": tool.get("input_schema") or {"type": "object"},
        }
        if tool.get("description"):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out


def chat_tool_choice(choice: dict[str, Any] | None) -> tuple[Any, bool | None]:
    """(chat `tool_choice`, chat `parallel_tool_calls`)."""
    if choice is None:
        return None, None
    parallel = (
        None
        if "disable_parallel_tool_use" not in choice
        else not choice["disable_parallel_tool_use"]
    )
    kind = choice.get("type")
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise IngressError("tool_choice.type must be auto, any, tool or none", param="tool_choice")


def to_chat(body: MessagesRequest) -> dict[str, Any]:
    chat: dict[str, Any] = {
        "model": body.model,
        "messages": chat_messages(body.system, body.messages),
        "max_tokens": body.max_tokens,
        "stream": body.stream,
    }
    choice, parallel = chat_tool_choice(body.tool_choice)
    user = (body.metadata or {}).get("user_id")
    optional = {
        "temperature": body.temperature,
        "top_p": body.top_p,
        "stop": body.stop_sequences or None,
        "tools": chat_tools(body.tools),
        "tool_choice": choice if body.tools else None,
        "parallel_tool_calls": parallel if body.tools else None,
        "user": str(user)[:256] if user else None,
    }
    chat.update({k: v for k, v in optional.items() if v is not None})
    if body.stream:
        chat["stream_options"] = {"include_usage": True}
    return chat


# -- response --------------------------------------------------------------------------------


def tool_input(arguments: str) -> dict[str, Any]:
    """A tool call's arguments as the `input` object (a model's broken JSON becomes {})."""
    try:
        value = orjson.loads(arguments or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def usage_object(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt_tokens,
        "output_tokens": completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_shell(model: str, message_id: str) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage_object(0, 0),
    }


def from_chat(chat: dict[str, Any], model: str) -> dict[str, Any]:
    choice = chat_choice(chat)
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = text_of(message.get("content")) or text_of(message.get("refusal"))
    if text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or new_id("toolu"),
                "name": str(fn.get("name") or ""),
                "input": tool_input(str(fn.get("arguments") or "")),
            }
        )
    out = message_shell(chat.get("model") or model, new_id("msg"))
    out["content"] = content
    out["stop_reason"] = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
    out["usage"] = usage_object(*chat_usage(chat))
    return out
