"""An OpenAI-compatible upstream on 127.0.0.1 that takes its time and remembers the order in
which requests arrived (by the last message's text) and the most it ever served at once.

Used by the priority-queueing tests: with the router holding the instance to one request at
a time, the arrival order here is the order the router's queue let requests go.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.fault_upstream import completion_body
from tests.support.router_harness import free_port


@dataclass
class OrderedUpstream:
    url: str
    delay_s: float
    arrivals: list[str] = field(default_factory=list)
    peak: int = 0
    _active: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None
    _thread: threading.Thread | None = None

    def reset(self, delay_s: float | None = None) -> None:
        self.arrivals.clear()
        self.peak = 0
        if delay_s is not None:
            self.delay_s = delay_s

    def wait_arrivals(self, n: int, timeout_s: float = 10.0) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while len(self.arrivals) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.arrivals)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        label = str(body["messages"][-1]["content"])
        self.arrivals.append(label)
        self._active += 1
        self.peak = max(self.peak, self._active)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self._active -= 1
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        return web.json_response(
            completion_body(
                True, "chatcmpl-ordered", body.get("model", "m"), f"done {label}", usage
            )
        )

    async def _ok(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)


def start_ordered_upstream(delay_s: float = 0.4) -> OrderedUpstream:
    port = free_port()
    upstream = OrderedUpstream(url=f"http://127.0.0.1:{port}", delay_s=delay_s)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    async def serve() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", upstream._chat)
        app.router.add_get("/health", upstream._ok)
        app.router.add_get("/ping", upstream._ok)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        upstream._runner = runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        started.set()
        loop.run_forever()
        loop.close()

    upstream._loop = loop
    upstream._thread = threading.Thread(target=run, name="ordered-upstream", daemon=True)
    upstream._thread.start()
    if not started.wait(10):
        raise RuntimeError("ordered upstream did not start")
    return upstream
