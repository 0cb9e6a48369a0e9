"""The one mock OpenAI upstream that bench_peer.py puts behind every proxy.

Minimal on purpose: its own cost is the floor every proxy's figure is measured against. A
buffered chat completion is a fixed body; a stream sends `max_tokens` content chunks (so a
2,000-chunk stream is a request with `max_tokens: 2000`), then usage when asked, then [DONE].

Usage: python bench/peer_mock.py   (prints {"url": ...} on its first line)
"""

from __future__ import annotations

import asyncio
import json
import signal
import time

import orjson
from aiohttp import web

_SSE = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def _completion(model: str) -> bytes:
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
        }
    )


def _chunk(model: str, created: int, delta: dict, finish: str | None = None) -> bytes:
    event = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return b"data: " + orjson.dumps(event) + b"\n\n"


async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    model = str(body.get("model") or "bench")
    if not body.get("stream"):
        return web.Response(body=_completion(model), content_type="application/json")
    n = max(1, int(body.get("max_tokens") or 8))
    resp = web.StreamResponse(headers=_SSE)
    await resp.prepare(request)
    created = int(time.time())
    await resp.write(_chunk(model, created, {"role": "assistant", "content": ""}))
    # Batched writes keep the mock far faster than anything measured through it.
    batch: list[bytes] = []
    for i in range(n):
        batch.append(_chunk(model, created, {"content": f"w{i} "}))
        if len(batch) == 64:
            await resp.write(b"".join(batch))
            batch.clear()
    batch.append(_chunk(model, created, {}, finish="stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        usage = {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": 9 + n}
        event = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        batch.append(b"data: " + orjson.dumps(event) + b"\n\n")
    batch.append(b"data: [DONE]\n\n")
    await resp.write(b"".join(batch))
    await resp.write_eof()
    return resp


async def models(_request: web.Request) -> web.Response:
    return web.json_response({"object": "list", "data": [{"id": "bench", "object": "model"}]})


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _serve() -> None:
    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await runner.cleanup()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve())
