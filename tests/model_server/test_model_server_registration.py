"""Registration with the router, heartbeats, re-enrolment after being forgotten, and a
SIGTERM drain that finishes in-flight work before deregistering."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.model_server.harness import (
    FakeRouter,
    ModelServer,
    RouterThread,
    parse_stream,
    wait_until,
)

pytestmark = pytest.mark.slow  # starts real model-server processes

TOKEN = "initial-token-abc123"
ENROLLMENT_KEY = "enrollment-key-xyz789"


@pytest.fixture
def router() -> Iterator[FakeRouter]:
    fake = FakeRouter(tokens={TOKEN}, enrollment_key=ENROLLMENT_KEY, heartbeat_interval_s=0.2)
    thread = RouterThread(fake)
    thread.start()
    try:
        yield fake
    finally:
        thread.stop()


def _server(router: FakeRouter, model_cache: Path, log: Path, token: str | None) -> ModelServer:
    env = {
        "MODEL_BACKEND": "tiny",
        "MODEL_CACHE_DIR": str(model_cache),
        "MODEL_SERVER_ENABLE_FAULTS": "1",
        "SERVED_MODEL_NAME": "tiny-a",
        "MODEL_VERSION": "v7",
        "MOTHERFLUXER_ROUTER_URL": router.url,
        "MOTHERFLUXER_ENROLLMENT_KEY": ENROLLMENT_KEY,
        "REGISTRATION_BACKOFF_CAP_S": "0.5",
        "DRAIN_TIMEOUT_S": "20",
    }
    if token:
        env["MOTHERFLUXER_REGISTRATION_TOKEN"] = token
    return ModelServer(env, log)


def test_registers_heartbeats_reenrols_and_drains(
    router: FakeRouter, model_cache: Path, tmp_path: Path
) -> None:
    server = _server(router, model_cache, tmp_path / "server.log", TOKEN)
    try:
        server.wait_ready()
        wait_until(lambda: len(router.of("heartbeat")) >= 2, timeout=20)
        [first] = router.of("register")
        assert first["body"] == {
            "token": TOKEN,
            "model": "tiny-a",
            "version": "v7",
            "kind": "openai",
            "base_url": server.url,
        }
        beat = router.of("heartbeat")[-1]
        assert beat["instance"] == "inst-1"
        assert beat["auth"] == "Bearer cred-secret-1"
        assert set(beat["body"]) == {"in_flight", "queue_depth", "tokens_per_second", "ready"}
        assert beat["body"]["ready"] is True
        assert router.of("token") == [], "the initial token is used before the enrollment key"
        health = server.get("/health").json()
        assert health["registered"] is True and health["instance_id"] == "inst-1"

        # The router forgets the instance: heartbeats get 404, the server enrols again.
        router.forget.add("inst-1")
        wait_until(lambda: len(router.of("register")) >= 2, timeout=20)
        [token_call] = router.of("token")
        assert token_call["auth"] == f"Bearer {ENROLLMENT_KEY}"
        assert token_call["body"] == {"model": "tiny-a"}
        second = router.of("register")[1]
        assert second["body"]["token"] == "fresh-token-1"
        wait_until(
            lambda: any(c["auth"] == "Bearer cred-secret-2" for c in router.of("heartbeat")),
            timeout=20,
        )

        # A streamed answer is in flight (held 3 s by a fault) when SIGTERM arrives: it must
        # finish before the server leaves the router.
        server.post("/debug/faults/delay_next_request")
        result: dict = {}

        def stream_one() -> None:
            body = {"prompt": "hi", "max_tokens": 30, "temperature": 0, "stream": True}
            with requests.post(
                server.url + "/v1/completions", json=body, stream=True, timeout=60
            ) as r:
                result["status"] = r.status_code
                result["chunks"], result["done"] = parse_stream(r)

        client = threading.Thread(target=stream_one)
        client.start()
        wait_until(lambda: server.get("/health").json()["in_flight"] == 1, timeout=20)
        server.terminate()
        wait_until(lambda: server.ping_status() == 503, timeout=10)
        assert router.of("delete") == [], "deregistration waits for in-flight work"
        rejected = server.post("/v1/completions", {"prompt": "late", "max_tokens": 2})
        assert rejected.status_code == 503
        assert rejected.json()["error"]["code"] == "draining"
        client.join(timeout=60)
        assert result["status"] == 200 and result["done"]
        assert result["chunks"][-1]["choices"][0]["finish_reason"] in ("stop", "length")
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.stop()

    [delete] = router.of("delete")
    assert delete["instance"] == "inst-2"
    assert delete["auth"] == "Bearer cred-secret-2"
    assert all(c["at"] < delete["at"] for c in router.of("heartbeat"))
    beats_while_draining = [c for c in router.of("heartbeat") if c["body"]["ready"] is False]
    assert all(c["instance"] == "inst-2" for c in beats_while_draining)
    log = server.log()
    for secret in (TOKEN, ENROLLMENT_KEY, "cred-secret-1", "cred-secret-2", "fresh-token-1"):
        assert secret not in log
