"""OpenAI Responses API request -> chat completions request.

The answer is built in `responses_output.py` (whole) and `responses_stream.py` (streamed).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from router.ingress.errors import IngressError
from router.ingress.wire import text_of


class ResponsesRequest(BaseModel):
    """The fields of `POST /v1/responses` this gateway reads; others are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]] = Field(default_factory=list)
    instructions: str | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    stream: bool = False
    store: bool | None = None
    previous_response_id: str | None = Field(default=None, max_length=128)
    metadata: dict[str, str] | None = None
    user: str | None = Field(default=None, max_length=256)
    truncation: Literal["auto", "disabled"] | None = None
    # MotherFluxer's routing extensions, passed on to the chat pipeline.
    fallback_mode: str | list[str] | None = None
    requirements: dict[str, Any] | None = None


# -- request ---------------------------------------------------------------------------------


def input_messages(items: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Responses `input` as chat messages (the part a stored response keeps as history)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, i))
        elif kind == "function_call":
            call = {
                "id": _required_str(item, "call_id", i),
                "type": "function",
                "function": {
                    "name": _required_str(item, "name", i),
                    "arguments": item.get("arguments") or "{}",
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append(
                {
                    "role": "tool",
                    "tool_call_id": _required_str(item, "call_id", i),
                    "content": output if isinstance(output, str) else text_of(output),
                }
            )
        elif kind == "reasoning":
            # Reasoning items are the model's own notes; other models cannot read them.
            continue
        else:
            raise IngressError(
                f"input item type {kind!r} is not supported by this gateway",
                param=f"input[{i}].type",
                code="unsupported_value",
            )
    return messages


def _required_str(item: dict[str, Any], key: str, i: int) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise IngressError(f"input[{i}].{key} is required", param=f"input[{i}].{key}")
    return value


def _message(item: dict[str, Any], i: int) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise IngressError(
            f"input[{i}].role must be user, assistant, system or developer",
            param=f"input[{i}].role",
        )
    content = item.get("content")
    chat_role = "system" if role == "developer" else role
    if isinstance(content, str):
        return {"role": chat_role, "content": content}
    if not isinstance(content, list):
        raise IngressError(
            f"input[{i}].content must be a string or a list", param=f"input[{i}].content"
        )
    if chat_role != "user":
        # Chat templates take plain text for system and assistant turns.
        return {"role": chat_role, "content": "".join(_part_text(p) for p in content)}
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail") in ("low", "high", "auto"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        else:
            raise IngressError(
                f"content part type {kind!r} is not supported by this gateway"
                + (" (images must be given as image_url)" if kind == "input_image" else ""),
                param=f"input[{i}].content[{j}]",
                code="unsupported_value",
            )
    return {"role": "user", "content": parts}


def _part_text(part: Any) -> str:
    if isinstance(part, dict):
        return str(part.get("text") or part.get("refusal") or "")
    return str(part) if isinstance(part, str) else ""


def chat_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    if not tools:
        return None
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            raise IngressError(
                f"tool type {tool.get('type')!r} is not supported; only function tools are",
                param=f"tools[{i}].type",
                code="unsupported_value",
            )
        fn: dict[str, Any] = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                fn[key] = tool[key]
        out.append({"type": "function", "function": fn})
    return out


def chat_tool_choice(choice: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise IngressError(
        "tool_choice must be auto, none, required or a function", param="tool_choice"
    )


def chat_response_format(text: dict[str, Any] | None) -> dict[str, Any] | None:
    fmt = (text or {}).get("format")
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        if not isinstance(fmt.get("schema"), dict):
            raise IngressError("text.format.schema is required", param="text.format.schema")
        schema: dict[str, Any] = {"name": fmt.get("name") or "response", "schema": fmt["schema"]}
        for key in ("strict", "description"):
            if fmt.get(key) is not None:
                schema[key] = fmt[key]
        return {"type": "json_schema", "json_schema": schema}
    raise IngressError(f"text.format type {fmt['type']!r} is not supported", param="text.format")


def to_chat(body: ResponsesRequest, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat completions request that answers this Responses request.

    `history` is the stored conversation of `previous_response_id` (its instructions are not
    carried over, as in OpenAI's API).
    """
    messages: list[dict[str, Any]] = []
    if body.instructions:
        messages.append({"role": "system", "content": body.instructions})
    messages.extend(history)
    messages.extend(input_messages(body.input))
    if not any(m["role"] != "system" for m in messages):
        raise IngressError("input must hold at least one message", param="input")
    chat: dict[str, Any] = {"model": body.model, "messages": messages, "stream": body.stream}
    optional = {
        "max_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "user": body.user,
        "tools": chat_tools(body.tools),
        "tool_choice": chat_tool_choice(body.tool_choice),
        "response_format": chat_response_format(body.text),
        "fallback_mode": body.fallback_mode,
        "requirements": body.requirements,
    }
    chat.update({k: v for k, v in optional.items() if v is not None})
    if body.tools and body.parallel_tool_calls is not None:
        chat["parallel_tool_calls"] = body.parallel_tool_calls
    if body.stream:
        chat["stream_options"] = {"include_usage": True}
    return chat
