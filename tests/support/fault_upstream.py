"""A fault-injecting OpenAI-compatible upstream for tests and benchmarks.

It answers `/v1/chat/completions` and `/v1/completions` (JSON or SSE, with `include_usage`),
`/v1/models`, `/health` and `/ping` on 127.0.0.1, and fails on command:

    POST /__fault  {"mode": "http_503", "count": 2, "retry_after": "3"}
    GET  /__stats  -> {"requests": {"/v1/chat/completions": 4, ...}, "faulted": 2, ...}
    POST /__reset  -> no fault, counters zeroed

The control API is served on the data port and on a separate control port, so it stays
reachable while the data port refuses or black-holes connections.

Modes (options in brackets):
- none: answer normally. slow [latency_ms, chunk_delay_ms]: answer after a delay.
- http_500 / http_502 / http_503 / http_429 [retry_after]: OpenAI-style JSON error.
- refuse: the data port stops listening and open connections are closed: clients get
  "connection refused".
- connect_timeout: the data port is replaced by a listening socket whose accept queue is kept
  full, so the kernel drops new SYNs: the client's connect hangs until its connect timeout.
- first_byte_timeout [delay_s]: the request is read, then nothing is sent (no headers).
- stall_stream [chunks, delay_s]: headers and `chunks` chunks, then silence.
- drop_mid_stream [chunks]: headers and `chunks` chunks, then the TCP connection is aborted.
- malformed_sse [chunks]: valid chunks, then lines that are not SSE/JSON, then [DONE].
- error_in_stream [chunks]: status 200 and chunks, then `data: {"error": ...}` and the end.

`count` is how many data requests get the fault before the mode returns to none (null: until
changed). Health endpoints get HTTP-status and delay faults too (a 500ing instance should
fail its health check); stream-shaped faults apply to completions only.

Run standalone: `python -m tests.support.fault_upstream --port 9001 --model demo`.
In tests: `handle = start_fault_upstream(model="demo")`, then `handle.url`,
`handle.set_fault("http_500", count=1)`, `handle.stats()`, `handle.stop()`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import signal
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MODES = frozenset(
    {
        "none",
        "slow",
        "http_500",
        "http_502",
        "http_503",
        "http_429",
        "refuse",
        "connect_timeout",
        "first_byte_timeout",
        "stall_stream",
        "drop_mid_stream",
        "malformed_sse",
        "error_in_stream",
    }
)
_PORT_MODES = frozenset({"refuse", "connect_timeout"})
_STATUS_MODES = {"http_500": 500, "http_502": 502, "http_503": 503, "http_429": 429}
_COMPLETION_PATHS = frozenset({"/v1/chat/completions", "/v1/completions"})
_HEALTH_PATHS = frozenset({"/health", "/ping"})
_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


@dataclass
class Fault:
    """The active fault and its options."""

    mode: str = "none"
    count: int | None = None
    retry_after: str | None = "1"
    latency_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    chunks: int = 2
    delay_s: float = 30.0

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Fault:
        mode = body.get("mode", "none")
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {sorted(MODES)}")
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(body) - known
        if unknown:
            raise ValueError(f"unknown fault options {sorted(unknown)}")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 0):
            raise ValueError("count must be a non-negative integer or null")
        return cls(**body)

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class _Stats:
    requests: Counter[str] = field(default_factory=Counter)
    faulted: int = 0
    started_at: float = field(default_factory=time.time)


class FaultUpstream:
    """The server; lives on one asyncio loop."""

    def __init__(self, model: str = "demo", name: str | None = None) -> None:
        self.model = model
        self.name = name or model
        self.fault = Fault()
        self.stats = _Stats()
        self.port = 0
        self.control_port = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._data_site: web.TCPSite | None = None
        self._control_site: web.TCPSite | None = None
        self._blackhole: list[socket.socket] = []
        self._port_mode = "none"
        self._stopping: asyncio.Event | None = None
        self._switch_lock: asyncio.Lock | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/ping", self._health)
        app.router.add_post("/__fault", self._set_fault)
        app.router.add_get("/__fault", self._get_fault)
        app.router.add_get("/__stats", self._get_stats)
        app.router.add_post("/__reset", self._reset)
        return app

    async def start(self, port: int = 0, control_port: int = 0, host: str = "127.0.0.1") -> None:
        self._stopping = asyncio.Event()
        self._switch_lock = asyncio.Lock()
        self._host = host
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._data_site = web.TCPSite(self._runner, host, port)
        await self._data_site.start()
        self.port = self._data_site.port
        self._control_site = web.TCPSite(self._runner, host, control_port)
        await self._control_site.start()
        self.control_port = self._control_site.port

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        self._close_blackhole()
        if self._runner is not None:
            self._abort_connections(None)
            await self._runner.cleanup()
            self._runner = None

    # --- port-level faults -------------------------------------------------------------------

    async def apply(self, fault: Fault) -> None:
        """Make `fault` current, opening or closing the data port as its mode needs."""
        assert self._switch_lock is not None
        async with self._switch_lock:
            self.fault = fault
            wanted = fault.mode if fault.mode in _PORT_MODES else "none"
            if wanted == self._port_mode:
                return
            await self._close_data_port()
            if wanted == "none":
                self._data_site = web.TCPSite(self._runner, self._host, self.port)
                await self._data_site.start()
            elif wanted == "connect_timeout":
                self._open_blackhole()
            self._port_mode = wanted

    async def _close_data_port(self) -> None:
        if self._data_site is not None:
            await self._data_site.stop()
            self._data_site = None
        self._abort_connections(self.port)
        self._close_blackhole()

    def _abort_connections(self, local_port: int | None) -> None:
        server = self._runner.server if self._runner is not None else None
        if server is None:
            return
        for handler in server.connections:
            transport = handler.transport
            if transport is None:
                continue
            sockname = transport.get_extra_info("sockname")
            if local_port is None or (sockname and sockname[1] == local_port):
                transport.abort()

    def _open_blackhole(self) -> None:
        # Backlog 0 lets one finished handshake wait in the accept queue; we fill that slot
        # ourselves and never accept, so the kernel drops every further SYN on this port.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self._host, self.port))
        listener.listen(0)
        self._blackhole.append(listener)
        for _ in range(2):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect_ex((self._host, self.port))
            self._blackhole.append(filler)

    def _close_blackhole(self) -> None:
        for sock in self._blackhole:
            sock.close()
        self._blackhole.clear()

    # --- control API -------------------------------------------------------------------------

    async def _set_fault(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            fault = Fault.from_json(body if isinstance(body, dict) else {})
        except (ValueError, TypeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if fault.mode in _PORT_MODES or self._port_mode != "none":
            # Switch after this answer is on its way, or it may be cut off by the switch itself.
            asyncio.get_running_loop().call_later(
                0.01, lambda: asyncio.ensure_future(self.apply(fault))
            )
        else:
            self.fault = fault
        return web.json_response({"fault": fault.as_json()})

    async def _get_fault(self, request: web.Request) -> web.Response:
        return web.json_response({"fault": self.fault.as_json()})

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _reset(self, request: web.Request) -> web.Response:
        self.stats = _Stats()
        if self._port_mode != "none":
            asyncio.get_running_loop().call_later(
                0.01, lambda: asyncio.ensure_future(self.apply(Fault()))
            )
        else:
            self.fault = Fault()
        return web.json_response({"ok": True})

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": dict(self.stats.requests),
            "total": sum(self.stats.requests.values()),
            "faulted": self.stats.faulted,
            "mode": self.fault.mode,
            "name": self.name,
        }

    # --- data endpoints ----------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault:
        """The fault for this request (counting it down), or a no-op fault."""
        self.stats.requests[path] += 1
        fault = self.fault
        if fault.mode in ("none", *_PORT_MODES):
            return fault
        if (
            path in _HEALTH_PATHS
            and fault.mode not in _STATUS_MODES
            and fault.mode
            not in (
                "slow",
                "first_byte_timeout",
            )
        ):
            return Fault()
        if fault.count is not None:
            if fault.count <= 0:
                self.fault = Fault()
                return self.fault
            fault.count -= 1
            if fault.count == 0:
                self.fault = Fault()
        self.stats.faulted += 1
        return fault

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, cut short when the server stops; True if the full time passed."""
        if seconds <= 0:
            return True
        assert self._stopping is not None
        try:
            await asyncio.wait_for(self._stopping.wait(), seconds)
        except TimeoutError:
            return True
        return False

    async def _health(self, request: web.Request) -> web.StreamResponse:
        fault = self._take_fault(request.path)
        early = await self._before_headers(request, fault)
        if early is not None:
            return early
        return web.json_response({"status": "ok", "model": self.model, "name": self.name})

    async def _models(self, request: web.Request) -> web.Response:
        self.stats.requests[request.path] += 1
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": self.model,
                        "object": "model",
                        "created": 0,
                        "owned_by": "fault-upstream",
                    }
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=True)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, chat=False)

    async def _before_headers(
        self, request: web.Request, fault: Fault
    ) -> web.StreamResponse | None:
        """Faults that act before any header: delays and error statuses."""
        if fault.mode == "slow" or fault.latency_ms:
            await self._sleep(fault.latency_ms / 1000.0)
        if fault.mode == "first_byte_timeout":
            await self._sleep(fault.delay_s)
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        status = _STATUS_MODES.get(fault.mode)
        if status is None:
            return None
        headers = {}
        if status == 429 and fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if status == 503 and fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        kind = "rate_limit_error" if status == 429 else "server_error"
        return web.json_response(
            {"error": {"type": kind, "message": f"injected {fault.mode}", "code": status}},
            status=status,
            headers=headers,
        )

    async def _complete(self, request: web.Request, chat: bool) -> web.StreamResponse:
        fault = self._take_fault(request.path)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"error": {"type": "invalid_request_error", "message": "body is not JSON"}},
                status=400,
            )
        early = await self._before_headers(request, fault)
        if early is not None:
            return early
        model = body.get("model") or self.model
        words = [f"Hello from {self.name}", " (", model, ")."]
        prompt_tokens = _count_prompt_tokens(body, chat)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        ident = f"{'chatcmpl' if chat else 'cmpl'}-{self.name}-{next(self._ids)}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return await self._stream(
                request, fault, chat, ident, model, words, usage, include_usage
            )
        return await self._whole(request, fault, chat, ident, model, "".join(words), usage)

    async def _whole(
        self,
        request: web.Request,
        fault: Fault,
        chat: bool,
        ident: str,
        model: str,
        text: str,
        usage: dict[str, int],
    ) -> web.StreamResponse:
        payload = completion_body(chat, ident, model, text, usage)
        raw = json.dumps(payload).encode()
        headers = {"x-upstream-instance": self.name}
        if fault.mode == "malformed_sse":
            return web.Response(
                body=raw[: len(raw) // 2] + b"<<garbage",
                status=200,
                content_type="application/json",
                headers=headers,
            )
        if fault.mode == "error_in_stream":
            err = {"error": {"type": "server_error", "message": "injected error_in_stream"}}
            return web.json_response(err, status=200, headers=headers)
        if fault.mode in ("stall_stream", "drop_mid_stream"):
            # Promise the full body, send half of it, then hang or hang up.
            response = web.StreamResponse(
                status=200, headers={**headers, "Content-Type": "application/json"}
            )
            response.content_length = len(raw)
            await response.prepare(request)
            await response.write(raw[: len(raw) // 2])
            if fault.mode == "stall_stream":
                await self._sleep(fault.delay_s)
            if request.transport is not None:
                request.transport.abort()
            return response
        return web.Response(body=raw, status=200, content_type="application/json", headers=headers)

    async def _stream(
        self,
        request: web.Request,
        fault: Fault,
        chat: bool,
        ident: str,
        model: str,
        words: list[str],
        usage: dict[str, int],
        include_usage: bool,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=200, headers={**_SSE_HEADERS, "x-upstream-instance": self.name}
        )
        await response.prepare(request)
        created = int(time.time())
        events = [
            _chunk(chat, ident, model, created, delta=w, first=(i == 0))
            for i, w in enumerate(words)
        ]
        events.append(_chunk(chat, ident, model, created, finish="stop"))
        if include_usage:
            events.append(_usage_chunk(chat, ident, model, created, usage))
        cut = min(max(fault.chunks, 0), len(events))
        delay = fault.chunk_delay_ms / 1000.0
        mode = fault.mode

        if mode in ("stall_stream", "drop_mid_stream", "malformed_sse", "error_in_stream"):
            for event in events[:cut]:
                await response.write(_sse(event))
                await self._sleep(delay)
            if mode == "stall_stream":
                await self._sleep(fault.delay_s)
                if request.transport is not None:
                    request.transport.abort()
                return response
            if mode == "drop_mid_stream":
                if request.transport is not None:
                    request.transport.abort()
                return response
            if mode == "malformed_sse":
                await response.write(b"data: {this is not json\n\n")
                await response.write(b"event without a data line\n\n")
                await response.write(b"\x00\xffgarbage\n\n")
                await response.write(b"data: [DONE]\n\n")
                await response.write_eof()
                return response
            err = {
                "error": {
                    "type": "server_error",
                    "message": "injected error_in_stream",
                    "code": 500,
                }
            }
            await response.write(_sse(err))
            await response.write_eof()
            return response

        for event in events:
            await response.write(_sse(event))
            await self._sleep(delay)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _count_prompt_tokens(body: dict[str, Any], chat: bool) -> int:
    if chat:
        messages = body.get("messages") or []
        text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
    else:
        text = str(body.get("prompt", ""))
    return max(1, len(text.split()))


def completion_body(
    chat: bool, ident: str, model: str, text: str, usage: dict[str, int]
) -> dict[str, Any]:
    """An OpenAI (chat) completion as an instance answers it, for every loopback mock."""
    created = int(time.time())
    if chat:
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": "stop",
        }
        kind = "chat.completion"
    else:
        choice = {"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}
        kind = "text_completion"
    return {
        "id": ident,
        "object": kind,
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": usage,
    }


def _chunk(
    chat: bool,
    ident: str,
    model: str,
    created: int,
    delta: str | None = None,
    first: bool = False,
    finish: str | None = None,
) -> dict[str, Any]:
    if chat:
        content: dict[str, Any] = {}
        if first:
            content["role"] = "assistant"
        if delta is not None:
            content["content"] = delta
        choice: dict[str, Any] = {"index": 0, "delta": content, "finish_reason": finish}
        kind = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": delta or "", "finish_reason": finish, "logprobs": None}
        kind = "text_completion"
    return {"id": ident, "object": kind, "created": created, "model": model, "choices": [choice]}


def _usage_chunk(
    chat: bool, ident: str, model: str, created: int, usage: dict[str, int]
) -> dict[str, Any]:
    kind = "chat.completion.chunk" if chat else "text_completion"
    return {
        "id": ident,
        "object": kind,
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage,
    }


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


# --- running it ------------------------------------------------------------------------------


class FaultUpstreamHandle:
    """A `FaultUpstream` running on its own event loop in a daemon thread."""

    def __init__(
        self, server: FaultUpstream, loop: asyncio.AbstractEventLoop, thread: threading.Thread
    ) -> None:
        self.server = server
        self._loop = loop
        self._thread = thread
        self.host = "127.0.0.1"
        self.port = server.port
        self.control_port = server.control_port
        self.url = f"http://{self.host}:{self.port}"
        self.control_url = f"http://{self.host}:{self.control_port}"

    @property
    def name(self) -> str:
        return self.server.name

    def _call(self, coro: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def set_fault(self, mode: str, count: int | None = None, **options: Any) -> None:
        """Switch fault; returns once the data port is in the new state."""
        fault = Fault.from_json({"mode": mode, "count": count, **options})
        self._call(self.server.apply(fault))

    def reset(self) -> None:
        async def _do() -> None:
            self.server.stats = _Stats()
            await self.server.apply(Fault())

        self._call(_do())

    def stats(self) -> dict[str, Any]:
        async def _do() -> dict[str, Any]:
            return self.server.snapshot()

        return self._call(_do())

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            self._call(self.server.stop(), timeout=15.0)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15.0)

    def __enter__(self) -> FaultUpstreamHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_fault_upstream(
    model: str = "demo", name: str | None = None, port: int = 0, control_port: int = 0
) -> FaultUpstreamHandle:
    """Start a fault upstream on 127.0.0.1 in a background thread and return its handle."""
    server = FaultUpstream(model=model, name=name)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start(port=port, control_port=control_port))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            started.set()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    thread = threading.Thread(target=run, name=f"fault-upstream-{name or model}", daemon=True)
    thread.start()
    if not started.wait(15.0):
        raise RuntimeError("fault upstream did not start within 15 s")
    if failure:
        raise RuntimeError("fault upstream failed to start") from failure[0]
    return FaultUpstreamHandle(server, loop, thread)


async def _serve_forever(args: argparse.Namespace) -> None:
    server = FaultUpstream(model=args.model, name=args.name)
    await server.start(port=args.port, control_port=args.control_port, host=args.host)
    print(
        json.dumps(
            {"url": f"http://{args.host}:{server.port}", "control_port": server.control_port}
        ),
        flush=True,
    )
    done = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, done.set)
    await done.wait()
    await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fault-injecting OpenAI-compatible upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    asyncio.run(_serve_forever(args))


if __name__ == "__main__":
    main()
