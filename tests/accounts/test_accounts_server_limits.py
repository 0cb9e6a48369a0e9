"""Issue 12.8 and 12.9: forwarding headers are not believed, and the server bounds headers.

Before the fix uvicorn believed `X-Forwarded-For` from any loopback peer (25 anonymous
requests with different values all passed a limit of 20), kept idle and half-sent connections
open indefinitely, and accepted a 100 KB header and 2,000 headers.
"""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from router.server_limits import ServerLimits
from tests.accounts.http_rig import DEMO_LIMITS, MODEL

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
HEADER_TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def server_limits() -> ServerLimits:
    # A short header-read timeout so the idle-connection test is quick.
    return ServerLimits(header_timeout_s=HEADER_TIMEOUT_S)


def test_spoofed_forwarded_for_does_not_lift_the_demo_limit(rig) -> None:
    limit = DEMO_LIMITS["per_subject_rpm"]
    statuses = []
    with rig.client() as anon:
        for i in range(limit + 5):
            spoof = {"X-Forwarded-For": f"198.51.100.{i}", "X-Real-IP": f"203.0.113.{i}"}
            statuses.append(anon.post("/v1/chat/completions", json=CHAT, headers=spoof).status_code)
    assert statuses[:limit] == [200] * limit, statuses
    assert 429 in statuses[limit:], statuses


def _connect(rig) -> socket.socket:
    parts = urlsplit(rig.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=5)
    return sock


def _response(sock: socket.socket) -> bytes:
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def test_a_100_kb_header_gets_431(rig) -> None:
    with _connect(rig) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        reply = _response(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]
    assert b'"headers_too_large"' in reply


def test_2000_headers_get_431(rig) -> None:
    head = b"".join(b"X-H%d: v\r\n" % i for i in range(2000))
    with _connect(rig) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n" + head + b"\r\n")
        reply = _response(sock)
    assert reply.startswith(b"HTTP/1.1 431"), reply[:80]


def test_idle_and_half_sent_connections_are_closed(rig) -> None:
    timeout = HEADER_TIMEOUT_S
    with _connect(rig) as idle, _connect(rig) as half:
        half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert _response(idle) == b""
        assert _response(half) == b""
        assert time.monotonic() - started < timeout + 3


def test_normal_requests_and_keep_alive_still_work(rig) -> None:
    with rig.client() as client:
        for _ in range(3):
            assert client.get("/health").status_code == 200


def test_limits_come_from_the_environment() -> None:
    limits = ServerLimits.from_env(
        {
            "MOTHERFLUXER_HEADER_TIMEOUT_S": "3",
            "MOTHERFLUXER_MAX_HEADERS": "50",
            "MOTHERFLUXER_TRUSTED_PROXIES": "10.0.0.1, 10.0.0.2",
        }
    )
    options = limits.uvicorn_options()
    assert limits.header_timeout_s == 3 and limits.max_headers == 50
    assert options["proxy_headers"] is True
    assert options["forwarded_allow_ips"] == "10.0.0.1,10.0.0.2"
    assert ServerLimits.from_env({}).uvicorn_options()["proxy_headers"] is False


def test_without_httptools_uvicorn_falls_back_to_h11_with_the_header_bound(monkeypatch) -> None:
    import router.server_limits as server_limits

    monkeypatch.setattr(server_limits, "HttpToolsProtocol", None)
    options = ServerLimits(max_header_bytes=4096).uvicorn_options()
    assert options["http"].__name__ == "JsonBadRequestH11"
    assert options["h11_max_incomplete_event_size"] == 4096
    assert options["proxy_headers"] is False
