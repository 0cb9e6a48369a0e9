"""What the strict provider mocks share: a server on loopback in its own thread, scripted faults.

Tests push actions that the next requests consume, in order:
- `{"error": 429, "retry_after": "2"}` (any status; 529 for Anthropic's overloaded),
- `{"cut_after": 3}`: stream that many events, then abort the connection,
- `{"malformed_after": 2}`: stream that many events, then a data line that is not JSON.
Every request is recorded (`requests`: path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class MockState:
    actions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self) -> dict[str, Any]:
        with self.lock:
            return self.actions.pop(0) if self.actions else {}


class MockServer:
    """Runs an aiohttp app on 127.0.0.1 in a background thread (start/stop from sync code)."""

    def __init__(self, app: web.Application, state: MockState) -> None:
        self.app = app
        self.state = state
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, port: int = 0) -> MockServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(port), self._loop).result(10)
        return self

    async def _start(self, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def push(self, *actions: dict[str, Any]) -> None:
        with self.state.lock:
            self.state.actions.extend(actions)

    @property
    def requests(self) -> list[Recorded]:
        return self.state.requests

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def write_events(
    request: web.Request, events: list[bytes], action: dict[str, Any]
) -> web.StreamResponse:
    """Stream pre-encoded SSE events, applying a scripted cut or malformed event."""
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for n, event in enumerate(events):
        if action.get("cut_after") == n:
            await resp.write(event[: len(event) // 2])
            transport = request.transport
            if transport is not None:
                transport.abort()
            return resp
        if action.get("malformed_after") == n:
            await resp.write(b"data: {not json\n\n")
            await resp.write_eof()
            return resp
        await resp.write(event)
        await asyncio.sleep(0)
    await resp.write_eof()
    return resp


def serve_forever(server: MockServer, port: int) -> None:
    server.start(port)
    print(f"{type(server).__name__} listening on {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
