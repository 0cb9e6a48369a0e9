"""SigV4 registration: the container signs with its IAM role instead of presenting a token."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from model_server.config import Settings
from model_server.registration import RouterRegistration


@pytest.mark.asyncio(loop_scope="session")
async def test_register_and_heartbeat_are_signed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-example")
    seen: list[tuple[str, dict[str, str], dict[str, Any]]] = []

    async def register(request: web.Request) -> web.Response:
        seen.append(("register", dict(request.headers), await request.json()))
        return web.json_response(
            {"instance_id": "i-1", "credential": "mfi_cred", "heartbeat_interval_s": 0.05},
            status=201,
        )

    async def heartbeat(request: web.Request) -> web.Response:
        seen.append(("heartbeat", dict(request.headers), await request.json()))
        return web.json_response({"status": "healthy"})

    app = web.Application()
    app.router.add_post("/instances/register", register)
    app.router.add_post("/instances/{iid}/heartbeat", heartbeat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    settings = Settings(
        router_url=f"http://127.0.0.1:{port}",
        public_url="http://127.0.0.1:9999",
        served_model_name="m1",
        registration_auth="sigv4",
        aws_region="eu-west-1",
    )

    async def ready() -> None:
        return None

    client = RouterRegistration(settings, lambda: {"in_flight": 0, "ready": True}, ready)
    client.start()
    try:
        async with asyncio.timeout(10):
            while sum(1 for kind, *_ in seen if kind == "heartbeat") < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
    finally:
        client._stop.set()
        await runner.cleanup()
    kind, headers, body = seen[0]
    assert kind == "register"
    assert body["token"] == ""
    auth = headers["Authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    _, beat_headers, _ = seen[1]
    assert beat_headers["x-motherfluxer-instance-credential"] == "mfi_cred"
    assert beat_headers["Authorization"].startswith("AWS4-HMAC-SHA256")


def test_ecs_task_address_comes_from_the_metadata_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from model_server.config import _task_url

    class Metadata(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"Networks": [{"IPv4Addresses": ["10.1.2.3"]}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Metadata)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv(
            "ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{server.server_port}"
        )
        assert _task_url(8080) == "http://10.1.2.3:8080"
        monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", "http://127.0.0.1:9")
        assert _task_url(8080) == "http://127.0.0.1:8080", "falls back when metadata is unreachable"
    finally:
        server.shutdown()
