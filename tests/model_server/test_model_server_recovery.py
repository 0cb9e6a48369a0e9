"""A crashed or wedged backend is restarted; /ping tells the truth meanwhile."""

from __future__ import annotations

import os
import signal

import pytest

from tests.model_server.harness import ModelServer, wait_until

pytestmark = pytest.mark.slow  # starts real model-server processes

CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


def _recovers(server: ModelServer, restarts_before: int) -> None:
    server.wait_ready(timeout=60)
    health = server.get("/health").json()
    assert health["status"] == "ok"
    assert health["restarts"] == restarts_before + 1
    r = server.post("/v1/chat/completions", CHAT)
    assert r.status_code == 200, r.text


def test_killed_backend_is_restarted(tiny_server: ModelServer) -> None:
    health = tiny_server.get("/health").json()
    old_pid = health["backend_pid"]
    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: tiny_server.ping_status() == 503, timeout=10)
    unready = tiny_server.get("/health")
    assert unready.status_code == 503
    assert unready.json()["status"] == "restarting"
    r = tiny_server.post("/v1/chat/completions", CHAT)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "backend_not_ready"
    assert r.headers["retry-after"] == "1"
    _recovers(tiny_server, health["restarts"])
    assert tiny_server.get("/health").json()["backend_pid"] != old_pid


def test_request_running_on_a_crashing_backend_gets_503(tiny_server: ModelServer) -> None:
    restarts = tiny_server.get("/health").json()["restarts"]
    assert tiny_server.post("/debug/faults/crash_on_next_request").status_code == 200
    r = tiny_server.post("/v1/chat/completions", CHAT)
    assert r.status_code == 503
    assert r.json()["error"] == {
        "type": "service_unavailable",
        "message": "model backend restarted while answering",
        "param": None,
        "code": "backend_unavailable",
    }
    _recovers(tiny_server, restarts)


def test_fault_hooks_are_absent_unless_enabled(tmp_path, model_cache) -> None:
    server = ModelServer(
        {"MODEL_BACKEND": "tiny", "MODEL_CACHE_DIR": str(model_cache)}, tmp_path / "log"
    )
    try:
        # No need to wait for the backend: routes exist as soon as HTTP is up.
        wait_until(lambda: server.ping_status() != 0, timeout=30)
        r = server.post("/debug/faults/crash_now")
        assert r.status_code == 404
    finally:
        assert server.stop() == 0
