"""A strict Anthropic Messages server on loopback (`POST /v1/messages`), for tests and demos.

It enforces what the real API documents and rejects with 400 otherwise: `max_tokens` is
required, `system` is top-level (a system role inside `messages` is an error), roles
alternate starting with `user`, content blocks are typed, `tool_result`s answer a `tool_use`
of the previous turn, unknown top-level fields are refused. It streams exactly the documented
events (`message_start`, `content_block_start/delta/stop` with `text_delta` and
`input_json_delta`, `message_delta`, `message_stop`, plus `ping`).

Answers are made up but shaped right: a forced or requested tool gets a `tool_use` whose input
validates against its schema (two calls when the prompt says "parallel"), a turn with tool
results gets text quoting them, anything else an echo. See mock_base for scripted faults.

Run: `python -m tests.support.mock_anthropic --port 9100 --api-key sk-ant-test`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import itertools
import json
from typing import Any

from aiohttp import web

from tests.support.mock_base import MockServer, MockState, Recorded, serve_forever, write_events
from tests.support.schema_sample import sample

TOP_LEVEL = {
    "model",
    "messages",
    "max_tokens",
    "system",
    "stop_sequences",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
}
BLOCK_TYPES = {"text", "image", "tool_use", "tool_result", "document", "thinking"}
MEDIA_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}
_ids = itertools.count(1)


class Invalid(Exception):
    pass


def _error(status: int, kind: str, message: str, headers: dict[str, str] | None = None):
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return web.json_response(body, status=status, headers=headers)


def _blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        if not content:
            raise Invalid(f"{where}: text content blocks must be non-empty")
        return [{"type": "text", "text": content}]
    if not isinstance(content, list) or not content:
        raise Invalid(f"{where}: content must be a string or a non-empty list of blocks")
    for k, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in BLOCK_TYPES:
            raise Invalid(f"{where}.{k}: unknown content block type {kind!r}")
        if kind == "text" and not isinstance(block.get("text"), str):
            raise Invalid(f"{where}.{k}.text: Field required")
        if kind == "image":
            source = block.get("source") or {}
            if source.get("type") == "base64":
                if source.get("media_type") not in MEDIA_TYPES:
                    raise Invalid(f"{where}.{k}.source.media_type: unsupported image type")
                try:
                    base64.b64decode(source.get("data") or "", validate=True)
                except (binascii.Error, ValueError):
                    raise Invalid(f"{where}.{k}.source.data: invalid base64") from None
            elif source.get("type") == "url":
                if not str(source.get("url", "")).startswith("https://"):
                    raise Invalid(f"{where}.{k}.source.url: must be https")
            else:
                raise Invalid(f"{where}.{k}.source: must be base64 or url")
        if kind == "tool_use" and not (block.get("id") and block.get("name")):
            raise Invalid(f"{where}.{k}: tool_use needs id and name")
        if kind == "tool_use" and not isinstance(block.get("input"), dict):
            raise Invalid(f"{where}.{k}.input: must be an object")
        if kind == "tool_result" and not block.get("tool_use_id"):
            raise Invalid(f"{where}.{k}: tool_result needs tool_use_id")
    return content


def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    extra = set(body) - TOP_LEVEL
    if extra:
        raise Invalid(f"{sorted(extra)[0]}: Extra inputs are not permitted")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages: at least one message is required")
    previous_tool_ids: set[str] = set()
    for i, msg in enumerate(messages):
        role = msg.get("role")
        if role == "system":
            raise Invalid(
                'messages: Unexpected role "system". The Messages API accepts a top-level '
                '`system` parameter, not "system" as an input message role.'
            )
        if role not in ("user", "assistant"):
            raise Invalid(f"messages.{i}.role: must be user or assistant")
        expected = "user" if i % 2 == 0 else "assistant"
        if role != expected:
            raise Invalid('messages: roles must alternate between "user" and "assistant"')
        blocks = _blocks(msg.get("content"), f"messages.{i}.content")
        for block in blocks:
            if block["type"] == "tool_result" and block["tool_use_id"] not in previous_tool_ids:
                raise Invalid(
                    f"messages.{i}: tool_result {block['tool_use_id']} has no matching tool_use"
                )
            if block["type"] in ("tool_use", "tool_result") and role != (
                "assistant" if block["type"] == "tool_use" else "user"
            ):
                raise Invalid(f"messages.{i}: {block['type']} in the wrong role")
        previous_tool_ids = {b["id"] for b in blocks if b["type"] == "tool_use"}
    system = body.get("system")
    if system is not None and not isinstance(system, (str, list)):
        raise Invalid("system: must be a string or a list of text blocks")
    names = set()
    for k, tool in enumerate(body.get("tools") or []):
        if not tool.get("name") or not isinstance(tool.get("input_schema"), dict):
            raise Invalid(f"tools.{k}: name and input_schema are required")
        if tool["input_schema"].get("type") != "object":
            raise Invalid(f"tools.{k}.input_schema.type: must be 'object'")
        names.add(tool["name"])
    choice = body.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            raise Invalid("tool_choice.type: must be auto, any, tool or none")
        if choice["type"] == "tool" and choice.get("name") not in names:
            raise Invalid("tool_choice.name: not one of the tools")
        if not body.get("tools"):
            raise Invalid("tool_choice: requires tools")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise Invalid("temperature: must be between 0 and 1")


def answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """(content blocks, stop_reason) for a valid request."""
    last = body["messages"][-1]
    content = (
        last["content"]
        if isinstance(last["content"], list)
        else [{"type": "text", "text": last["content"]}]
    )
    results = [b for b in content if b.get("type") == "tool_result"]
    text = " ".join(b.get("text", "") for b in content if b.get("type") == "text")
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if results:
        quoted = "; ".join(
            str(r.get("content"))
            if not isinstance(r.get("content"), list)
            else " ".join(x.get("text", "") for x in r["content"])
            for r in results
        )
        return [{"type": "text", "text": f"The tool said: {quoted}"}], "end_turn"
    if tools and choice["type"] != "none":
        if choice["type"] == "tool":
            chosen = [next(t for t in tools if t["name"] == choice["name"])]
        elif choice["type"] == "any" or "tool" in text.lower() or "weather" in text.lower():
            chosen = tools[:1]
            if "parallel" in text.lower() and not choice.get("disable_parallel_tool_use"):
                chosen = (tools * 2)[:2]
        else:
            chosen = []
        if chosen:
            blocks = [
                {
                    "type": "tool_use",
                    "id": f"toolu_{next(_ids):06d}",
                    "name": t["name"],
                    "input": sample(t["input_schema"]),
                }
                for t in chosen
            ]
            return blocks, "tool_use"
    stops = body.get("stop_sequences") or []
    reply = f"Hello from the Anthropic mock. You said: {text}".strip()
    for stop in stops:
        if stop in reply:
            return [{"type": "text", "text": reply.split(stop, 1)[0]}], "stop_sequence"
    words = reply.split(" ")
    if len(words) > body["max_tokens"]:
        return [{"type": "text", "text": " ".join(words[: body["max_tokens"]])}], "max_tokens"
    return [{"type": "text", "text": reply}], "end_turn"


def _usage(body: dict[str, Any], output: int) -> dict[str, Any]:
    cached = any(
        isinstance(b, dict) and b.get("cache_control")
        for b in (body.get("system") if isinstance(body.get("system"), list) else [])
    )
    size = len(json.dumps(body["messages"])) // 4 + 1
    return {
        "input_tokens": size,
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 100 if cached else 0,
    }


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_events(body: dict[str, Any], blocks: list[dict[str, Any]], stop: str) -> list[bytes]:
    usage = _usage(body, 1)
    msg_id = f"msg_{next(_ids):06d}"
    events = [
        _sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": body["model"],
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": usage,
                },
            },
        ),
        _sse("ping", {"type": "ping"}),
    ]
    output = 0
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            start = {"type": "text", "text": ""}
            pieces = [w + " " for w in block["text"].split(" ")]
            pieces[-1] = pieces[-1].rstrip(" ")
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                {"type": "input_json_delta", "partial_json": raw[i : i + 7]}
                for i in range(0, len(raw), 7)
            ]
        output += len(deltas)
        events.append(
            _sse(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": start},
            )
        )
        for delta in deltas:
            events.append(
                _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(_sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": output},
            },
        )
    )
    events.append(_sse("message_stop", {"type": "message_stop"}))
    return events


class AnthropicMock(MockServer):
    def __init__(self, api_key: str = "sk-ant-test") -> None:
        self.api_key = api_key
        state = MockState()
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_get("/v1/models", self._models)
        super().__init__(app, state)

    def _authorised(self, request: web.Request) -> bool:
        key = request.headers.get("x-api-key")
        bearer = request.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            key = key or bearer[7:]
        return key == self.api_key

    async def _models(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "authentication_error", "invalid x-api-key")
        return web.json_response({"data": [], "has_more": False})

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.state.requests.append(
            Recorded(request.path, dict(request.query), dict(request.headers), body)
        )
        if not self._authorised(request):
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        try:
            validate(body)
        except Invalid as exc:
            return _error(400, "invalid_request_error", str(exc))
        action = self.state.take()
        if "error" in action:
            status = int(action["error"])
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(status, "api_error")
            headers = {"retry-after": str(action["retry_after"])} if "retry_after" in action else {}
            return _error(status, kind, f"mock {kind}", headers)
        blocks, stop = action.get("reply") or answer(body)
        if body.get("stream"):
            return await write_events(request, stream_events(body, blocks, stop), action)
        return web.json_response(
            {
                "id": f"msg_{next(_ids):06d}",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": blocks,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": action.get("usage")
                or _usage(body, sum(len(json.dumps(b)) // 8 for b in blocks)),
            }
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="strict Anthropic Messages mock on loopback")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--api-key", default="sk-ant-test")
    args = parser.parse_args()
    serve_forever(AnthropicMock(args.api_key), args.port)


if __name__ == "__main__":
    main()
