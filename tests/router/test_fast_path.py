"""The inference routes' short path through the app reads the same as the long one: CORS for the
console's origin, our error shape for a crash, and bookkeeping done (after the response
outside Lambda, before it inside)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from router import after_response
from router.api import completions
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = {"model": "alpha", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 5}
CONSOLE = "https://console.example.com"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="alpha", name="alpha-fast")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def console_router(moto_endpoint: str, upstream: FaultUpstreamHandle) -> Iterator[RouterHarness]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTHERFLUXER_CONSOLE_ORIGIN", CONSOLE)
        harness = start_router(moto_endpoint, catalog_doc(model_doc("alpha")))
    harness.add_instance("alpha", upstream.url, instance_id=upstream.name)
    yield harness
    harness.stop()


def test_a_chat_completion_carries_cors_for_the_console_origin(
    console_router: RouterHarness,
) -> None:
    with console_router.client() as c:
        resp = c.post("/v1/chat/completions", json=CHAT, headers={"Origin": CONSOLE})
        other = c.post(
            "/v1/chat/completions", json=CHAT, headers={"Origin": "https://evil.example.net"}
        )
        preflight = c.options(
            "/v1/chat/completions",
            headers={
                "Origin": CONSOLE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == CONSOLE
    assert "x-motherfluxer-route-reason" in resp.headers["access-control-expose-headers"]
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == CONSOLE


def test_a_crash_on_the_fast_path_is_a_500_in_our_shape(
    console_router: RouterHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(request, parsed):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(completions, "run_pipeline", crash)
    with console_router.client() as c:
        resp = c.post("/v1/chat/completions", json=CHAT)
    assert resp.status_code == 500
    error = resp.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert "secret" not in resp.text


def test_bookkeeping_runs_after_the_response_outside_lambda_and_inline_inside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        done: list[str] = []
        after_response.soon(done.append, "x")
        before = list(done)
        await asyncio.sleep(0)
        return before, done

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    assert asyncio.run(scenario()) == ([], ["x"])
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "router")
    assert asyncio.run(scenario()) == (["x"], ["x"])
