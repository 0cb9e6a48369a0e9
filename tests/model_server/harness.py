"""Start the model server as a real process on loopback, and a fake router that records what
the server tells it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from aiohttp import web

REPO = Path(__file__).resolve().parents[2]
SERVE = REPO / "containers" / "serve"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """Poll `predicate` until truthy; bounded so a broken server fails the test, not hangs it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s")


class ModelServer:
    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MOTHERFLUXER_")}
        full_env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        full_env.update(env)
        self._log = open(log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(SERVE)],
            env=full_env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=str(REPO),
        )

    def get(self, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 30)
        return requests.get(self.url + path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> requests.Response:
        if body is not None:
            kw["json"] = body
        kw.setdefault("timeout", 30)
        return requests.post(self.url + path, **kw)

    def ping_status(self) -> int:
        try:
            return requests.get(self.url + "/ping", timeout=2).status_code
        except requests.ConnectionError:
            return 0

    def wait_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"model server exited early:\n{self.log()}")
            return self.ping_status() == 200

        wait_until(ready, timeout, step=0.1)

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self) -> int:
        self.terminate()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout=10)
        self._log.close()
        return code


def sse_events(resp: requests.Response) -> Iterator[str]:
    """The `data:` payloads of an SSE response, in order."""
    for line in resp.iter_lines(decode_unicode=True):
        if line and line.startswith("data: "):
            yield line[len("data: ") :]


def parse_stream(resp: requests.Response) -> tuple[list[dict[str, Any]], bool]:
    chunks, done = [], False
    for data in sse_events(resp):
        if data == "[DONE]":
            done = True
            continue
        assert not done, "nothing may follow [DONE]"
        chunks.append(json.loads(data))
    return chunks, done


@dataclass
class FakeRouter:
    """Just enough of the router's instance API to drive registration, with a call log."""

    tokens: set[str]
    enrollment_key: str
    heartbeat_interval_s: float = 0.2
    calls: list[dict[str, Any]] = field(default_factory=list)
    forget: set[str] = field(default_factory=set)
    instances: dict[str, str] = field(default_factory=dict)
    port: int = 0
    url: str = ""
    _tokens_issued: int = 0
    _instances_made: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/instances/registration-tokens", self._issue_token)
        app.router.add_post("/instances/register", self._register)
        app.router.add_post("/instances/{id}/heartbeat", self._heartbeat)
        app.router.add_delete("/instances/{id}", self._delete)
        return app

    def _record(self, kind: str, request: web.Request, body: Any = None, **extra: Any) -> None:
        self.calls.append(
            {
                "kind": kind,
                "auth": request.headers.get("Authorization"),
                "body": body,
                "at": time.monotonic(),
                **extra,
            }
        )

    async def _issue_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record("token", request, body)
        if request.headers.get("Authorization") != f"Bearer {self.enrollment_key}":
            return web.json_response({"error": "bad key"}, status=401)
        self._tokens_issued += 1
        token = f"fresh-token-{self._tokens_issued}"
        self.tokens.add(token)
        return web.json_response({"token": token}, status=201)

    async def _register(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record("register", request, body)
        token = body.get("token")
        if token not in self.tokens:
            return web.json_response({"error": "token used or unknown"}, status=401)
        self.tokens.discard(token)
        self._instances_made += 1
        n = self._instances_made
        instance_id, credential = f"inst-{n}", f"cred-secret-{n}"
        self.instances[instance_id] = credential
        return web.json_response(
            {
                "instance_id": instance_id,
                "credential": credential,
                "heartbeat_interval_s": self.heartbeat_interval_s,
            },
            status=201,
        )

    def _authorized(self, request: web.Request) -> str | None:
        instance_id = request.match_info["id"]
        expected = self.instances.get(instance_id)
        if instance_id in self.forget or expected is None:
            return None
        if request.headers.get("Authorization") != f"Bearer {expected}":
            return None
        return instance_id

    async def _heartbeat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self._record("heartbeat", request, body, instance=request.match_info["id"])
        if self._authorized(request) is None:
            return web.json_response({"error": "unknown instance"}, status=404)
        return web.json_response({"ok": True})

    async def _delete(self, request: web.Request) -> web.Response:
        self._record("delete", request, instance=request.match_info["id"])
        if self._authorized(request) is None:
            return web.json_response({"error": "unknown instance"}, status=404)
        self.instances.pop(request.match_info["id"], None)
        return web.Response(status=204)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in list(self.calls) if c["kind"] == kind]


class RouterThread:
    """Runs a FakeRouter's aiohttp app on 127.0.0.1 in a background thread."""

    def __init__(self, router: FakeRouter, port: int = 0) -> None:
        self.router = router
        self._port = port
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner = web.AppRunner(self.router.app())
        self.loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        self.loop.run_until_complete(site.start())
        self.router.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self.loop.run_forever()

    def start(self) -> str:
        self._thread.start()
        assert self._ready.wait(10), "fake router did not start"
        self.router.url = f"http://127.0.0.1:{self.router.port}"
        return self.router.url

    def stop(self) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
