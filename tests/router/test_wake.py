"""A request for a model scaled to zero (no instance registered at all) wakes it: the router
counts `WakeRequests`, then answers from the fallback or with 503 + Retry-After of the wake."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 3}
WAKES = "motherfluxer_wake_requests_total"


def _wakes(c: httpx.Client, router: RouterHarness, model: str) -> float:
    text = c.get("/metrics", headers=router.admin).text
    for line in text.splitlines():
        if line.startswith(WAKES + "{") and f'model="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.fixture(scope="module")
def small() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="small", name="small-0")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def router(moto_endpoint: str, small: FaultUpstreamHandle) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        model_doc("big", fallback="small"),  # sleeps; has a configured fallback
        model_doc("solo"),  # sleeps; no fallback
        model_doc("small"),
        model_doc("gone"),  # never sleeps: no instance is an outage, not a wake
        scale_to_zero={"big": {"wake_seconds": 240}, "solo": {"wake_seconds": 420}},
    )
    harness = start_router(moto_endpoint, catalog)
    harness.add_instance("small", small.url, instance_id="small-0")
    try:
        yield harness
    finally:
        harness.stop()


def test_sleeping_model_with_a_fallback_answers_from_it_and_counts_a_wake(
    router: RouterHarness,
) -> None:
    with router.client() as c:
        before = _wakes(c, router, "big")
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "big"})
        after = _wakes(c, router, "big")
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-model"] == "small"
    assert resp.headers["x-motherfluxer-route-reason"].startswith("wake: big asleep (~240s)")
    assert after == before + 1


def test_sleeping_model_without_a_fallback_is_503_with_its_wake_time(router: RouterHarness) -> None:
    with router.client() as c:
        before = _wakes(c, router, "solo")
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "solo"})
        after = _wakes(c, router, "solo")
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == "420"
    assert resp.json()["error"]["code"] == "model_waking"
    assert after == before + 1


def test_hybrid_request_for_a_sleeping_model_uses_its_own_fallbacks(router: RouterHarness) -> None:
    body = {"prompt": "hello there", "max_length": 4, "preferred_model": "solo"}
    with router.client() as c:
        before = _wakes(c, router, "solo")
        listed = c.post("/inference", json={**body, "fallback_mode": ["small"]})
        refused = c.post("/inference", json={**body, "fallback_mode": "none"})
        after = _wakes(c, router, "solo")
    assert listed.status_code == 200, listed.text
    assert listed.json()["model"] == "small"
    assert refused.status_code == 503, refused.text
    assert refused.headers["Retry-After"] == "420"
    assert after == before + 2


def test_a_model_that_does_not_sleep_is_not_woken(router: RouterHarness) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "gone"})
        text = c.get("/metrics", headers=router.admin).text
    assert resp.status_code in (404, 503)
    assert resp.json()["error"]["code"] != "model_waking"
    assert not re.search(WAKES + r'\{[^}]*model="gone"', text)


def test_once_awake_the_model_answers_itself_and_no_wake_is_counted(
    moto_endpoint: str,
) -> None:
    catalog = catalog_doc(model_doc("nap"), scale_to_zero={"nap": {"wake_seconds": 60}})
    router = start_router(moto_endpoint, catalog)
    upstream = start_fault_upstream(model="nap", name="nap-0")
    try:
        with router.client() as c:
            before = _wakes(c, router, "nap")
            cold = c.post("/v1/chat/completions", json={**CHAT, "model": "nap"})
            assert cold.status_code == 503 and cold.headers["Retry-After"] == "60"
            router.add_instance("nap", upstream.url, instance_id="nap-0")
            deadline = time.monotonic() + 5
            while True:
                warm = c.post("/v1/chat/completions", json={**CHAT, "model": "nap"})
                if warm.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            awake = _wakes(c, router, "nap")
            again = c.post("/v1/chat/completions", json={**CHAT, "model": "nap"})
            assert again.status_code == 200
            assert _wakes(c, router, "nap") == awake
        assert warm.status_code == 200, warm.text
        assert warm.headers["x-motherfluxer-model"] == "nap"
        assert awake >= before + 1
    finally:
        upstream.stop()
        router.stop()
