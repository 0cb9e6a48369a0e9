"""An OpenAI-compatible upstream that fails on a fixed pattern of its requests.

`pattern` is a string of `o` (answer) and `x` (HTTP 500), repeated: `"ox"` fails every other
request, `"oxxx"` three in four. A fixed pattern, not a random draw, keeps runs of failures short
enough that passive health never ejects the instance: the tests then see what the outcome window
(history, canary) does, not what outlier ejection does.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.fault_upstream import completion_body
from tests.support.router_harness import free_port


@dataclass
class FlakyUpstream:
    name: str
    pattern: str = "o"
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0})

    def __post_init__(self) -> None:
        self._cycle = itertools.cycle(self.pattern)

    async def chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        if next(self._cycle) == "x":
            self.counts["failed"] += 1
            return web.json_response(
                {"error": {"type": "server_error", "message": "injected", "code": 500}},
                status=500,
            )
        self.counts["ok"] += 1
        usage = {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}
        model = body.get("model", self.name)
        return web.json_response(
            completion_body(True, f"chatcmpl-{self.name}", model, f"hi from {self.name}", usage)
        )

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


@dataclass
class FlakyHandle:
    server: FlakyUpstream
    url: str
    loop: asyncio.AbstractEventLoop
    runner: web.AppRunner
    thread: threading.Thread

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def start_flaky_upstream(name: str, pattern: str = "o") -> FlakyHandle:
    server = FlakyUpstream(name, pattern)
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.chat)
    for path in ("/health", "/ping"):
        app.router.add_get(path, server.health)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    port = free_port()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name=f"flaky-{name}", daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("flaky upstream did not start")
    return FlakyHandle(server, f"http://127.0.0.1:{port}", loop, runner, thread)
