"""An OpenAI-compatible upstream that bills exactly as the local tiny model server does.

Prompt tokens are counted with the tiny model's own tokenizer over its chat template (the same
`build_tokenizer()` the model server loads); every request is billed its whole `max_tokens` of
output, the worst case a reservation has to cover. Runs on 127.0.0.1 in a background thread.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from model_server.tiny_model import build_tokenizer


@dataclass
class TokenizingUpstream:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


_TOKENIZER: Any = None


def tokenizer() -> Any:
    global _TOKENIZER
    if _TOKENIZER is None:
        _TOKENIZER = build_tokenizer()
    return _TOKENIZER


def billed_prompt_tokens(messages: list[dict[str, Any]]) -> int:
    tok = tokenizer()
    text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return len(tok(text, add_special_tokens=False)["input_ids"])


def start_tokenizing_upstream(model: str = "tiny-chat") -> TokenizingUpstream:
    handle = TokenizingUpstream()
    ids = itertools.count(1)
    tokenizer()  # built before the first request, not during it

    async def chat(request: web.Request) -> web.Response:
        body = await request.json()
        handle.bodies.append(body)
        prompt = billed_prompt_tokens(body["messages"])
        out = int(body.get("max_tokens") or 16)
        return web.json_response(
            {
                "id": f"chatcmpl-tok-{next(ids)}",
                "object": "chat.completion",
                "created": 1_767_225_600,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "noise " * out},
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": out,
                    "total_tokens": prompt + out,
                },
            }
        )

    async def ok(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/health", ok)
    app.router.add_get("/ping", ok)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        handle.url = f"http://127.0.0.1:{port}"
        handle._runner = runner
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="tokenizing-upstream", daemon=True)
    thread.start()
    if not started.wait(15):
        raise RuntimeError("tokenizing upstream did not start")
    handle._loop = loop
    handle._thread = thread
    return handle
