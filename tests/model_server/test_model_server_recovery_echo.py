"""Recovery paths that need several restarts run on the echo backend, which restarts in well
under a second; the kill-and-recover path is covered on the tiny model in
test_model_server_recovery.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.model_server.harness import ModelServer, sse_events, wait_until

pytestmark = pytest.mark.slow  # starts real model-server processes


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModelServer]:
    server = ModelServer(
        {
            "MODEL_BACKEND": "echo",
            "MODEL_SERVER_ENABLE_FAULTS": "1",
            "BACKEND_STALL_TIMEOUT_S": "2",
            "BACKEND_RESTART_BACKOFF_S": "0.1",
        },
        tmp_path_factory.mktemp("echo") / "server.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        assert server.stop() == 0


def test_echo_backend_is_labelled_demo(echo_server: ModelServer) -> None:
    health = echo_server.get("/health").json()
    assert health["backend"] == "echo" and health["demo"] is True
    r = echo_server.post("/v1/completions", {"prompt": "one two three", "max_tokens": 5})
    assert r.json()["choices"][0]["text"] == "one two three one two "
    assert r.json()["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}


def test_wedged_backend_is_killed_and_restarted(echo_server: ModelServer) -> None:
    restarts = echo_server.get("/health").json()["restarts"]
    echo_server.post("/debug/faults/hang_on_next_request")
    r = echo_server.post("/v1/completions", {"prompt": "hi", "max_tokens": 3})
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "backend_unavailable"
    assert "stalled" in echo_server.get("/health").json()["last_error"]
    echo_server.wait_ready(timeout=30)
    assert echo_server.get("/health").json()["restarts"] == restarts + 1
    assert echo_server.post("/v1/completions", {"prompt": "hi", "max_tokens": 3}).ok


def test_crash_mid_stream_ends_the_stream_with_an_error(echo_server: ModelServer) -> None:
    echo_server.post("/debug/faults/slow_next_request")
    body = {"prompt": "a b c", "max_tokens": 200, "stream": True}
    with requests.post(echo_server.url + "/v1/completions", json=body, stream=True) as r:
        assert r.status_code == 200
        events = sse_events(r)
        first = json.loads(next(events))
        assert first["choices"][0]["text"] == "a "
        echo_server.post("/debug/faults/crash_now")
        rest = list(events)
    assert "[DONE]" not in rest
    assert json.loads(rest[-1])["error"]["code"] == "backend_unavailable"
    echo_server.wait_ready(timeout=30)


def test_client_disconnect_frees_the_backend(echo_server: ModelServer) -> None:
    echo_server.post("/debug/faults/slow_next_request")
    body = {"prompt": "x", "max_tokens": 400, "stream": True}
    with requests.post(echo_server.url + "/v1/completions", json=body, stream=True) as r:
        next(sse_events(r))
    # 400 slow tokens would take 20 s; a cancelled request frees the backend far sooner.
    wait_until(lambda: echo_server.get("/health").json()["in_flight"] == 0, timeout=10)
    r = echo_server.post("/v1/completions", {"prompt": "after", "max_tokens": 2}, timeout=5)
    assert r.json()["choices"][0]["text"] == "after after "


def test_repeated_crashes_back_off_but_recover(echo_server: ModelServer, tmp_path: Path) -> None:
    def restarts() -> int:
        return echo_server.get("/health").json()["restarts"]

    start = restarts()
    for n in range(1, 4):
        echo_server.wait_ready(timeout=30)
        echo_server.post("/debug/faults/crash_now")
        wait_until(lambda n=n: restarts() == start + n, timeout=10)
    echo_server.wait_ready(timeout=30)
    assert echo_server.post("/v1/completions", {"prompt": "ok", "max_tokens": 1}).ok


def test_echo_refuses_what_it_cannot_enforce(echo_server: ModelServer) -> None:
    # A backend without grammar support must say so, never answer with unconstrained text.
    ask = [{"role": "user", "content": "hi"}]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    cases = [
        ({"tools": tools}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
    ]
    for extra, param in cases:
        r = echo_server.post("/v1/chat/completions", {"messages": ask, **extra})
        assert r.status_code == 400
        assert r.json()["error"]["param"] == param
    plain = {"messages": ask, "tools": tools, "tool_choice": "none", "max_tokens": 2}
    assert echo_server.post("/v1/chat/completions", plain).status_code == 200
    r = echo_server.post("/v1/embeddings", {"input": "hi"})
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "model"
