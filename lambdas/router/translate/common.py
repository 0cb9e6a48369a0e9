"""Pieces every translator shares: OpenAI message parts, images, chunks, tool-call ids."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

# The name of the forced tool that carries `response_format` on providers without native
# structured output; its input comes back to the caller as the message content.
FORMAT_TOOL = "json_answer"
DEFAULT_MAX_TOKENS = 4096


class TranslationError(ValueError):
    """The request cannot be expressed for this provider; `param` names the offending part."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An `image_url` part: either inline bytes (a data URL) or a remote URL."""

    param: str
    url: str | None = None
    media_type: str | None = None
    data: bytes | None = None


def parse_image_part(part: dict[str, Any], param: str) -> ImageRef:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise TranslationError("image part has no url", param)
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        if not sep or ";base64" not in header:
            raise TranslationError("image data URL must be base64-encoded", param)
        media_type = header.split(";", 1)[0] or "application/octet-stream"
        if not media_type.startswith("image/"):
            raise TranslationError(f"data URL is {media_type}, not an image", param)
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise TranslationError("image data URL is not valid base64", param) from None
        return ImageRef(param=param, media_type=media_type, data=data)
    if not url.startswith("https://"):
        raise TranslationError("image URLs must be https:// or data: URLs", param)
    return ImageRef(param=param, url=url)


def content_parts(
    content: Any,
    param: str,
    text_part: Callable[[str], dict[str, Any]],
    image_part: Callable[[ImageRef], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A message content as provider parts; the callbacks give each provider's spelling."""
    # Validation and error locations stay in one place so every provider rejects alike.
    if isinstance(content, str):
        return [text_part(content)] if content else []
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content or []):
        kind = part.get("type") if isinstance(part, dict) else None
        where = f"{param}[{j}]"
        if kind in ("text", "input_text"):
            if part.get("text"):
                parts.append(text_part(part["text"]))
        elif kind == "image_url":
            parts.append(image_part(parse_image_part(part, where)))
        else:
            raise TranslationError(f"content part type {kind!r} is not supported", where)
    return parts


def text_of(content: Any) -> str:
    """The text of a message content (a string, or the text parts of a list)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "")
            for p in content
            if isinstance(p, dict) and p.get("type") in ("text", "input_text")
        )
    return ""


def max_tokens_of(body: dict[str, Any]) -> int:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else DEFAULT_MAX_TOKENS


def stop_list(body: dict[str, Any]) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop]
    return [s for s in stop or [] if isinstance(s, str)]


def function_tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `function` halves of the request's tools (other tool types have no mapping)."""
    out = []
    for i, tool in enumerate(body.get("tools") or []):
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type", "function") != "function" or not isinstance(fn, dict):
            raise TranslationError("only function tools are supported", f"tools[{i}]")
        if not isinstance(fn.get("name"), str):
            raise TranslationError("function tool needs a name", f"tools[{i}].function.name")
        out.append(fn)
    return out


def response_schema(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, JSON schema) asked for by `response_format`, or None for plain text."""
    fmt = body.get("response_format")
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = spec.get("schema") or {"type": "object"}
        return str(spec.get("name") or FORMAT_TOOL), schema
    if kind == "json_object":
        return FORMAT_TOOL, {"type": "object"}
    return None


def tool_names_by_id(messages: list[dict[str, Any]]) -> dict[str, str]:
    """Tool-call id -> function name, for protocols whose tool results carry the name."""
    names: dict[str, str] = {}
    for msg in messages:
        for call in msg.get("tool_calls") or []:
            fn = call.get("function") or {}
            if call.get("id") and fn.get("name"):
                names[call["id"]] = fn["name"]
    return names


def parse_arguments(raw: Any, param: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TranslationError("tool call arguments are not JSON", param) from None
    if not isinstance(value, dict):
        raise TranslationError("tool call arguments must be a JSON object", param)
    return value


def new_id(prefix: str = "chatcmpl") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def completion(
    model: str,
    *,
    content: str | None,
    tool_calls: list[dict[str, Any]],
    finish_reason: str,
    usage: dict[str, Any],
    response_id: str | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": response_id or new_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": finish_reason, "logprobs": None}
        ],
        "usage": usage,
    }


def usage_obj(prompt: int, completion_tokens: int, cached: int = 0, written: int = 0) -> dict:
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    if cached or written:
        usage["prompt_tokens_details"] = {"cached_tokens": cached, "cache_write_tokens": written}
    return usage


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


class ChunkWriter:
    """Builds the OpenAI `chat.completion.chunk` events of one streamed answer."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id()
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [],
            "usage": usage,
        }


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def settle_finish(finish: str, has_calls: bool) -> str:
    """`tool_calls` only when a caller-visible call was made."""
    # The format tool is forced but hidden, so providers report tool use for a plain answer.
    if finish == "tool_calls" and not has_calls:
        return "stop"
    return finish


def add_tool_use(
    texts: list[str], calls: list[dict[str, Any]], call_id: Any, name: Any, arguments: Any
) -> None:
    """File one tool use of a whole response as a call, or as text if it is the format tool."""
    args = orjson.dumps(arguments or {}).decode()
    if name == FORMAT_TOOL:
        texts.append(args)
    else:
        calls.append(tool_call(call_id, name, args))


def answer(
    model: str,
    texts: list[str],
    calls: list[dict[str, Any]],
    finish: str,
    usage: dict[str, Any],
) -> dict[str, Any]:
    """The completion for collected texts and calls; content is null only for a pure call."""
    return completion(
        model,
        content="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=settle_finish(finish, bool(calls)),
        usage=usage,
    )


class ToolCallStream:
    """Chunk state shared by translators whose streams open and extend tool-use blocks."""

    def __init__(self, model: str) -> None:
        self.out = ChunkWriter(model)
        self.done = False
        # content block index -> OpenAI tool_calls index (None for the format tool)
        self._tools: dict[int, int | None] = {}

    def start_tool(self, index: int, call_id: Any, name: Any) -> list[dict[str, Any]]:
        if name == FORMAT_TOOL:
            self._tools[index] = None
            return []
        position = sum(1 for v in self._tools.values() if v is not None)
        self._tools[index] = position
        call = tool_call(call_id, name, "")
        return [self.out.chunk({"tool_calls": [{"index": position, **call}]})]

    def tool_delta(self, index: int, piece: str) -> list[dict[str, Any]]:
        position = self._tools.get(index)
        if position is None:
            # The format tool's input is the answer itself, so it streams as content.
            return [self.out.chunk({"content": piece})] if piece else []
        return [
            self.out.chunk({"tool_calls": [{"index": position, "function": {"arguments": piece}}]})
        ]

    def finish(self, finish: str) -> list[dict[str, Any]]:
        has_calls = any(v is not None for v in self._tools.values())
        return [self.out.chunk({}, finish_reason=settle_finish(finish, has_calls))]


def append_turn(
    turns: list[dict[str, Any]], role: str, items: list[dict[str, Any]], key: str = "content"
) -> None:
    """Add `items` as a `role` turn, merging into the last turn if it has the same role."""
    # Turn-based providers reject two consecutive turns of one role.
    if not items:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1][key].extend(items)
    else:
        turns.append({"role": role, key: items})
