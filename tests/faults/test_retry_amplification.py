"""At 100 % upstream failure the router must not multiply load: attempts <= 1.2 x requests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.faults.conftest import FAST_TIMEOUTS, MODEL, completions
from tests.support.fault_upstream import start_fault_upstream
from tests.support.router_harness import catalog_doc, model_doc, start_router

REQUESTS = 120
CLIENTS = 6


def test_total_failure_keeps_upstream_attempts_within_1_2x_requests(moto_endpoint: str) -> None:
    handles = [start_fault_upstream(model=MODEL, name=f"down-{i}") for i in range(3)]
    # No accounts here: the bound is the router's, and rate limits would only muddy it.
    harness = start_router(
        moto_endpoint, catalog_doc(model_doc(MODEL, strategy="round_robin")), **FAST_TIMEOUTS
    )
    try:
        for h in handles:
            harness.add_instance(MODEL, h.url, instance_id=h.name)
            h.set_fault("http_500")
        body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}

        def send(client: httpx.Client) -> httpx.Response:
            return client.post("/v1/chat/completions", json=body)

        with harness.client() as client, ThreadPoolExecutor(CLIENTS) as pool:
            replies = list(pool.map(lambda _: send(client), range(REQUESTS)))

        attempts = sum(completions(h) for h in handles)
        assert attempts <= 1.2 * REQUESTS, attempts
        assert attempts >= 5 * len(handles)  # every instance really was tried until ejected
        # Every client got a typed error, none a hang or a stack trace.
        assert {r.status_code for r in replies} <= {502, 503}
        for r in replies:
            assert set(r.json()["error"]) == {"type", "message", "param", "code"}
    finally:
        harness.stop()
        for h in handles:
            h.stop()
