"""A strict Bedrock Runtime server on loopback: Converse and ConverseStream (restJson1).

`POST /model/{modelId}/converse` answers JSON; `/converse-stream` answers the AWS event stream
(`application/vnd.amazon.eventstream`: binary frames with CRC32s, `:event-type` headers). It
requires a SigV4 `Authorization` for service `bedrock`, alternating roles starting with
`user`, typed content blocks (images as base64 bytes of a known format), `toolResult`s that
answer a `toolUse` of the previous turn, and known `inferenceConfig`/`toolConfig` fields.
Errors carry `x-amzn-ErrorType` (a 429 is `ThrottlingException`). Scripted faults as in
mock_base; `{"stream_error": "throttlingException", "after": 2}` sends an exception frame.

Run: `python -m tests.support.mock_bedrock --port 9300`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import itertools
import json
import struct
import zlib
from typing import Any

from aiohttp import web

from tests.support.mock_base import MockServer, MockState, Recorded, serve_forever
from tests.support.schema_sample import sample

TOP_LEVEL = {
    "messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
    "additionalModelRequestFields", "additionalModelResponseFieldPaths", "promptVariables",
    "requestMetadata", "performanceConfig",
}  # fmt: skip
INFERENCE = {"maxTokens", "temperature", "topP", "stopSequences"}
BLOCKS = {"text", "image", "toolUse", "toolResult", "document", "reasoningContent", "cachePoint"}
IMAGE_FORMATS = {"png", "jpeg", "gif", "webp"}
_ids = itertools.count(1)
ACTION = web.RequestKey("action", dict)


class Invalid(Exception):
    pass


def _error(status: int, kind: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=status, headers={"x-amzn-ErrorType": f"{kind}:http://internal"}
    )


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (all header values are strings, type 7)."""
    encoded = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name
        encoded += struct.pack("!BH", 7, len(raw_value)) + raw_value
    total = 12 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message) & 0xFFFFFFFF)


def event(kind: str, data: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(data).encode())


def exception(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return frame(headers, json.dumps({"message": message}).encode())


def validate(body: Any) -> None:
    if not isinstance(body, dict):
        raise Invalid("body must be a JSON object")
    extra = set(body) - TOP_LEVEL
    if extra:
        raise Invalid(f"Unknown parameter {sorted(extra)[0]}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise Invalid("messages must not be empty")
    previous: set[str] = set()
    for i, msg in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if msg.get("role") != expected:
            raise Invalid(
                "A conversation must start with a user message and alternate user and "
                "assistant roles"
            )
        content = msg.get("content")
        if not isinstance(content, list) or not content:
            raise Invalid(f"messages.{i}.content must be a non-empty list")
        for k, block in enumerate(content):
            kinds = [b for b in BLOCKS if b in block]
            if len(kinds) != 1:
                raise Invalid(f"messages.{i}.content.{k}: exactly one member is required")
            if "image" in block:
                image = block["image"]
                if image.get("format") not in IMAGE_FORMATS:
                    raise Invalid(f"messages.{i}.content.{k}.image.format is invalid")
                try:
                    base64.b64decode((image.get("source") or {}).get("bytes") or "", validate=True)
                except (binascii.Error, ValueError):
                    raise Invalid(f"messages.{i}.content.{k}.image.source.bytes: bad") from None
            if "toolResult" in block and block["toolResult"].get("toolUseId") not in previous:
                raise Invalid(
                    "The toolResult blocks must correspond to toolUse blocks in the previous turn"
                )
        previous = {b["toolUse"]["toolUseId"] for b in content if "toolUse" in b}
    extra = set(body.get("inferenceConfig") or {}) - INFERENCE
    if extra:
        raise Invalid(f"Unknown parameter inferenceConfig.{sorted(extra)[0]}")
    config = body.get("toolConfig")
    if config is not None:
        tools = config.get("tools") or []
        if not tools:
            raise Invalid("toolConfig.tools must not be empty")
        names = {t["toolSpec"]["name"] for t in tools}
        choice = config.get("toolChoice")
        if choice is not None and (
            len(choice) != 1 or next(iter(choice)) not in ("auto", "any", "tool")
        ):
            raise Invalid("toolConfig.toolChoice must be one of auto, any, tool")
        if choice and "tool" in choice and choice["tool"].get("name") not in names:
            raise Invalid("toolConfig.toolChoice.tool.name is not a defined tool")
    uses = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    if uses and config is None:
        raise Invalid("toolConfig must be defined when the messages use tools")


def answer(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    last = body["messages"][-1]["content"]
    results = [b["toolResult"] for b in last if "toolResult" in b]
    text = " ".join(b["text"] for b in last if "text" in b)
    config = body.get("toolConfig") or {}
    tools = [t["toolSpec"] for t in config.get("tools") or []]
    choice = config.get("toolChoice") or {"auto": {}}
    if results:
        quoted = "; ".join(c.get("text", "") for r in results for c in r.get("content") or [])
        return [{"text": f"The tool said: {quoted}"}], "end_turn"
    if tools:
        if "tool" in choice:
            chosen = [t for t in tools if t["name"] == choice["tool"]["name"]]
        elif "any" in choice or "tool" in text.lower() or "weather" in text.lower():
            chosen = (tools * 2)[:2] if "parallel" in text.lower() else tools[:1]
        else:
            chosen = []
        if chosen:
            return [
                {
                    "toolUse": {
                        "toolUseId": f"tooluse_{next(_ids):06d}",
                        "name": t["name"],
                        "input": sample(t["inputSchema"]["json"]),
                    }
                }
                for t in chosen
            ], "tool_use"
    return [{"text": f"Hello from the Bedrock mock. You said: {text}".strip()}], "end_turn"


def _usage(body: dict[str, Any], blocks: list[dict[str, Any]]) -> dict[str, int]:
    prompt = len(json.dumps(body["messages"])) // 4 + 1
    out = max(1, len(json.dumps(blocks)) // 8)
    cached = 50 if any("cachePoint" in s for s in body.get("system") or []) else 0
    return {
        "inputTokens": prompt,
        "outputTokens": out,
        "totalTokens": prompt + out + cached,
        "cacheReadInputTokens": cached,
        "cacheWriteInputTokens": 0,
    }


def stream_frames(body: dict[str, Any], blocks: list[dict[str, Any]], stop: str) -> list[bytes]:
    frames = [event("messageStart", {"role": "assistant"})]
    for index, block in enumerate(blocks):
        if "text" in block:
            words = block["text"].split(" ")
            for n, word in enumerate(words):
                piece = word + (" " if n < len(words) - 1 else "")
                frames.append(
                    event(
                        "contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}
                    )
                )
        else:
            use = block["toolUse"]
            frames.append(
                event(
                    "contentBlockStart",
                    {
                        "contentBlockIndex": index,
                        "start": {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}},
                    },
                )
            )
            raw = json.dumps(use["input"])
            for i in range(0, len(raw), 6):
                frames.append(
                    event(
                        "contentBlockDelta",
                        {
                            "contentBlockIndex": index,
                            "delta": {"toolUse": {"input": raw[i : i + 6]}},
                        },
                    )
                )
        frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
    frames.append(event("messageStop", {"stopReason": stop}))
    frames.append(event("metadata", {"usage": _usage(body, blocks), "metrics": {"latencyMs": 12}}))
    return frames


class BedrockMock(MockServer):
    def __init__(self) -> None:
        app = web.Application()
        app.router.add_post("/model/{model}/converse", self._converse)
        app.router.add_post("/model/{model}/converse-stream", self._stream)
        super().__init__(app, MockState())

    async def _checked(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.state.requests.append(
            Recorded(
                request.path, {"model": request.match_info["model"]}, dict(request.headers), body
            )
        )
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256") or "/bedrock/aws4_request" not in auth:
            return None, _error(403, "UnrecognizedClientException", "missing SigV4 signature")
        try:
            validate(body)
        except Invalid as exc:
            return None, _error(400, "ValidationException", str(exc))
        action = self.state.take()
        if "error" in action:
            status = int(action["error"])
            kind = {429: "ThrottlingException", 503: "ServiceUnavailableException"}.get(
                status, "InternalServerException"
            )
            return None, _error(status, kind, "mock failure")
        request[ACTION] = action
        return body, None

    async def _converse(self, request: web.Request) -> web.Response:
        body, failed = await self._checked(request)
        if failed is not None:
            return failed
        assert body is not None
        blocks, stop = request[ACTION].get("reply") or answer(body)
        for block in blocks:
            if "image" in block:
                block["image"]["source"]["bytes"] = base64.b64encode(
                    block["image"]["source"]["bytes"]
                ).decode()
        return web.json_response(
            {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop,
                "usage": _usage(body, blocks),
                "metrics": {"latencyMs": 12},
            }
        )

    async def _stream(self, request: web.Request) -> web.StreamResponse:
        body, failed = await self._checked(request)
        if failed is not None:
            return failed
        assert body is not None
        action = request[ACTION]
        blocks, stop = action.get("reply") or answer(body)
        frames = stream_frames(body, blocks, stop)
        resp = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream"})
        await resp.prepare(request)
        for n, data in enumerate(frames):
            if action.get("stream_error") and action.get("after") == n:
                await resp.write(exception(action["stream_error"], "mock stream failure"))
                break
            if action.get("cut_after") == n:
                await resp.write(data[: len(data) // 2])
                if request.transport is not None:
                    request.transport.abort()
                return resp
            if action.get("malformed_after") == n:
                await resp.write(b"\x00\x00\x00\x20garbage-that-is-not-a-frame....")
                break
            await resp.write(data)
            await asyncio.sleep(0)
        await resp.write_eof()
        return resp


def main() -> None:
    parser = argparse.ArgumentParser(description="strict Bedrock Runtime (Converse) mock")
    parser.add_argument("--port", type=int, default=9300)
    args = parser.parse_args()
    serve_forever(BedrockMock(), args.port)


if __name__ == "__main__":
    main()
