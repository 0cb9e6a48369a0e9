"""A strict mock of the OpenAI chat completions and embeddings wire, on loopback.

Strict: a request with a field the real API does not define, a wrong type, or a missing
required field gets the 400 OpenAI would give, so a translator that sends a malformed body
fails its test. Answers are deterministic:

- with `tools` (and `tool_choice` not "none") and no tool result yet: one tool call to the
  first (or the chosen) function, its arguments filled from the JSON schema's properties;
- with `response_format` json_schema: a JSON object that matches the schema;
- after a `tool` message: "The tool said: <its content>";
- otherwise: "Hello! You said: <the last user text>".

Embeddings: 16 native dimensions, deterministic per text, unit length; `dimensions` <= 16
is served (shortened and renormalised), more is a 400.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import struct
import threading
import time
from typing import Any

from aiohttp import web

CHAT_FIELDS = {
    "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "user", "tools", "tool_choice", "parallel_tool_calls",
    "response_format", "stop", "seed", "n", "frequency_penalty", "presence_penalty",
    "logprobs", "top_logprobs", "metadata", "store",
}  # fmt: skip
EMBEDDING_FIELDS = {"model", "input", "encoding_format", "dimensions", "user"}
ROLES = {"system", "developer", "user", "assistant", "tool"}
NATIVE_DIMS = 16


class WireError(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def _check_chat(body: dict[str, Any]) -> None:
    extra = set(body) - CHAT_FIELDS
    if extra:
        raise WireError(f"Unrecognized request argument supplied: {sorted(extra)[0]}")
    if not isinstance(body.get("model"), str):
        raise WireError("model is required", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise WireError("messages must be a non-empty array", "messages")
    for i, msg in enumerate(messages):
        if msg.get("role") not in ROLES:
            raise WireError(f"invalid role at messages[{i}]", f"messages[{i}].role")
        if msg["role"] == "tool" and not isinstance(msg.get("tool_call_id"), str):
            raise WireError("tool messages need tool_call_id", f"messages[{i}].tool_call_id")
        content = msg.get("content")
        if content is None and not (msg["role"] == "assistant" and msg.get("tool_calls")):
            raise WireError(f"messages[{i}].content is required", f"messages[{i}].content")
        if isinstance(content, list):
            for part in content:
                if part.get("type") not in ("text", "image_url"):
                    raise WireError("invalid content part", f"messages[{i}].content")
    for i, tool in enumerate(body.get("tools") or []):
        fn = tool.get("function") or {}
        if tool.get("type") != "function" or not isinstance(fn.get("name"), str):
            raise WireError("invalid tool", f"tools[{i}]")
    if body.get("tool_choice") is not None and not body.get("tools"):
        raise WireError("tool_choice is only allowed when tools are specified", "tool_choice")


def _value_for(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: _value_for(sub) for name, sub in props.items()}
    if kind == "array":
        return [_value_for(schema.get("items") or {"type": "string"})]
    if kind == "integer":
        return 3
    if kind == "number":
        return 1.5
    if kind == "boolean":
        return True
    return "Paris"


def _last(messages: list[dict[str, Any]], role: str) -> dict[str, Any] | None:
    return next((m for m in reversed(messages) if m.get("role") == role), None)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))


def answer_for(body: dict[str, Any]) -> tuple[str | None, list[dict[str, Any]]]:
    """(text, tool calls) this mock answers `body` with."""
    messages = body["messages"]
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if tools and choice != "none" and messages[-1].get("role") != "tool":
        fn = tools[0]["function"]
        if isinstance(choice, dict):
            wanted = choice["function"]["name"]
            fn = next(t["function"] for t in tools if t["function"]["name"] == wanted)
        args = _value_for(fn.get("parameters") or {"type": "object"})
        call = {
            "id": "call_" + hashlib.sha256(json.dumps(messages).encode()).hexdigest()[:12],
            "type": "function",
            "function": {"name": fn["name"], "arguments": json.dumps(args)},
        }
        return None, [call]
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        return json.dumps(_value_for(fmt["json_schema"]["schema"])), []
    if messages[-1].get("role") == "tool":
        return f"The tool said: {_text(messages[-1].get('content'))}", []
    user = _last(messages, "user")
    return f"Hello! You said: {_text(user.get('content') if user else '')}", []


def _usage(body: dict[str, Any], text: str | None, calls: list[dict[str, Any]]) -> dict[str, int]:
    prompt = max(1, len(json.dumps(body["messages"])) // 4)
    completion = max(1, len((text or "").split()) + 4 * len(calls))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _vector(text: str, dims: int) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    raw = [(b - 127.5) / 127.5 for b in digest[:NATIVE_DIMS]][:dims]
    norm = math.sqrt(sum(x * x for x in raw)) or 1.0
    return [x / norm for x in raw]


class OpenAIWireMock:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [b for p, b in self.requests if p == path]

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ping", self._health)
        return app

    async def _health(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    @staticmethod
    def _reject(err: WireError) -> web.Response:
        body = {
            "error": {
                "message": err.message,
                "type": "invalid_request_error",
                "param": err.param,
                "code": None,
            }
        }
        return web.json_response(body, status=400)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(("/v1/chat/completions", body))
        try:
            _check_chat(body)
        except WireError as err:
            return self._reject(err)
        text, calls = answer_for(body)
        usage = _usage(body, text, calls)
        finish = "tool_calls" if calls else "stop"
        base = {"id": "chatcmpl-mock", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
            if calls:
                message["tool_calls"] = calls
            choice = {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            return web.json_response(
                {**base, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)

        async def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
            choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
            chunk = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        await send({"role": "assistant", "content": ""})
        if text:
            third = max(1, len(text) // 3)
            for piece in (text[:third], text[third : 2 * third], text[2 * third :]):
                if piece:
                    await send({"content": piece})
        for i, call in enumerate(calls):
            head = {"index": i, "id": call["id"], "type": "function",
                    "function": {"name": call["function"]["name"], "arguments": ""}}  # fmt: skip
            await send({"tool_calls": [head]})
            args = call["function"]["arguments"]
            half = len(args) // 2
            for piece in (args[:half], args[half:]):
                await send({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        await send({}, finish)
        if (body.get("stream_options") or {}).get("include_usage"):
            chunk = {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
            await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(("/v1/embeddings", body))
        try:
            extra = set(body) - EMBEDDING_FIELDS
            if extra:
                raise WireError(f"Unrecognized request argument supplied: {sorted(extra)[0]}")
            if not isinstance(body.get("model"), str):
                raise WireError("model is required", "model")
            inputs = body.get("input")
            if isinstance(inputs, str):
                inputs = [inputs]
            if not isinstance(inputs, list) or not inputs:
                raise WireError("input must be a string or a non-empty array", "input")
            fmt = body.get("encoding_format", "float")
            if fmt not in ("float", "base64"):
                raise WireError("encoding_format must be float or base64", "encoding_format")
            dims = body.get("dimensions") or NATIVE_DIMS
            if not isinstance(dims, int) or not 1 <= dims <= NATIVE_DIMS:
                raise WireError(f"dimensions must be between 1 and {NATIVE_DIMS}", "dimensions")
        except WireError as err:
            return self._reject(err)
        data = []
        tokens = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(str(t) for t in item)
            tokens += max(1, len(text) // 4)
            vec = _vector(text, dims)
            emb: Any = vec
            if fmt == "base64":
                emb = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": emb})
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    def start(self) -> OpenAIWireMock:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._runner = web.AppRunner(self._app())
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            loop.run_forever()

        self._thread = threading.Thread(target=run, name="openai-wire-mock", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("mock upstream did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        fut = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
        fut.result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
