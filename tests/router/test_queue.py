"""Priority queueing before shedding, through the real router over HTTP.

The upstream is a real local server that takes 1 s per answer; the catalog holds its one
instance to one request at a time (`queue.max_concurrency: 1`) with room for one waiter.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.support.ordered_upstream import OrderedUpstream, start_ordered_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

MODEL = "solo"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OrderedUpstream]:
    up = start_ordered_upstream(delay_s=0.4)
    yield up
    up.stop()


@pytest.fixture(scope="module")
def router(moto_endpoint: str, upstream: OrderedUpstream) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        model_doc(MODEL, queue={"max_concurrency": 1, "max_depth": 1, "max_wait_s": 10}),
        model_doc("open"),
    )
    harness = start_router(moto_endpoint, catalog)
    harness.add_instance(MODEL, upstream.url, instance_id="solo-1")
    harness.add_instance("open", upstream.url, instance_id="open-1")
    harness.refresh()
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(autouse=True)
def _fresh(upstream: OrderedUpstream) -> Iterator[None]:
    # Long enough that a loaded machine still sees the waiter queued before the holder ends.
    upstream.reset(delay_s=1.0)
    yield


def chat(
    router: RouterHarness, label: str, model: str = MODEL, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, float]:
    t0 = time.perf_counter()
    with router.client() as c:
        r = c.post(
            "/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": label}]},
            headers=headers or {},
        )
    return r, time.perf_counter() - t0


def router_queue_depth(router: RouterHarness) -> int:
    with router.client() as c:
        models = c.get("/v1/models").json()["data"]
    return next(m for m in models if m["id"] == MODEL)["status"]["router_queue_depth"]


def wait_queued(router: RouterHarness, want: int, timeout_s: float = 5.0) -> int:
    deadline = time.monotonic() + timeout_s
    depth = router_queue_depth(router)
    while depth != want and time.monotonic() < deadline:
        time.sleep(0.02)
        depth = router_queue_depth(router)
    return depth


def hold_slot(
    pool: ThreadPoolExecutor, router: RouterHarness, upstream: OrderedUpstream
) -> Future[Any]:
    """A request that occupies the model's only slot (it has reached the upstream)."""
    holder = pool.submit(chat, router, "holder")
    assert upstream.wait_arrivals(1) == ["holder"]
    return holder


def test_a_second_request_waits_for_the_slot_then_succeeds(
    router: RouterHarness, upstream: OrderedUpstream
) -> None:
    with ThreadPoolExecutor(4) as pool:
        holder = hold_slot(pool, router, upstream)
        waiter = pool.submit(chat, router, "waiter")
        assert wait_queued(router, 1) == 1
        first, second = holder.result(), waiter.result()
    assert first[0].status_code == 200, first[0].text
    assert second[0].status_code == 200, second[0].text
    assert second[0].json()["choices"][0]["message"]["content"] == "done waiter"
    # It waited for the holder's answer instead of being sent alongside it.
    assert upstream.peak == 1
    assert upstream.arrivals == ["holder", "waiter"]
    assert second[1] > 0.5
    # The wait is reported on its own, not as router overhead.
    assert float(second[0].headers["x-motherfluxer-queued-ms"]) > 400
    assert float(second[0].headers["x-motherfluxer-overhead-ms"]) < 200
    assert "x-motherfluxer-queued-ms" not in first[0].headers
    assert router_queue_depth(router) == 0


def test_queue_depth_shows_in_models_and_metrics(
    router: RouterHarness, upstream: OrderedUpstream
) -> None:
    with ThreadPoolExecutor(4) as pool:
        holder = hold_slot(pool, router, upstream)
        waiter = pool.submit(chat, router, "waiter")
        assert wait_queued(router, 1) == 1
        with router.client() as c:
            detail = c.get(f"/v1/models/{MODEL}").json()
            scrape = c.get("/metrics", headers=router.admin).text
        holder.result()
        waiter.result()
    assert detail["status"]["router_queue_depth"] == 1
    assert f'motherfluxer_queue_depth{{model="{MODEL}"}} 1.0' in scrape
    assert 'motherfluxer_queue_depth{model="open"} 0.0' in scrape


def test_a_full_queue_answers_503_with_retry_after_at_once(
    router: RouterHarness, upstream: OrderedUpstream
) -> None:
    upstream.reset(delay_s=1.5)
    with ThreadPoolExecutor(4) as pool:
        holder = hold_slot(pool, router, upstream)
        waiter = pool.submit(chat, router, "waiter")
        assert wait_queued(router, 1) == 1
        refused, elapsed = chat(router, "third")
        holder.result()
        waiter.result()
    assert refused.status_code == 503
    # At once: long before the holder (1.5 s) lets the waiter go.
    assert elapsed < 0.8
    assert int(refused.headers["retry-after"]) >= 1
    err = refused.json()["error"]
    assert err["code"] == "queue_full"
    assert err["type"] == "service_unavailable"
    assert "third" not in upstream.arrivals
    with router.client() as c:
        scrape = c.get("/metrics", headers=router.admin).text
    assert f'motherfluxer_queue_rejected_total{{model="{MODEL}",reason="queue_full"}}' in scrape


def test_a_waiter_leaves_at_its_deadline_with_503_and_retry_after(
    router: RouterHarness, upstream: OrderedUpstream
) -> None:
    upstream.reset(delay_s=1.9)
    # The Lambda Web Adapter's context sets the deadline: 2 s away, so the wait must end
    # 1 s before it (the retry policy's margin), long before the holder is done.
    context = json.dumps({"deadline": (time.time() + 2.0) * 1000})
    with ThreadPoolExecutor(4) as pool:
        holder = hold_slot(pool, router, upstream)
        refused, elapsed = chat(router, "late", headers={"x-amzn-lambda-context": context})
        assert router_queue_depth(router) == 0
        holder.result()
    assert refused.status_code == 503, refused.text
    assert 0.6 < elapsed < 1.8
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["error"]["code"] == "queue_timeout"
    assert "queued: queue_timeout" in refused.headers["x-motherfluxer-route-reason"]
    assert upstream.arrivals == ["holder"]


def test_a_model_without_a_limit_is_never_queued(
    router: RouterHarness, upstream: OrderedUpstream
) -> None:
    with ThreadPoolExecutor(4) as pool:
        answers = [
            f.result() for f in [pool.submit(chat, router, f"o{i}", "open") for i in range(3)]
        ]
    assert [r.status_code for r, _ in answers] == [200, 200, 200]
    assert upstream.peak == 3
