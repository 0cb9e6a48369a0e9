"""Priority queueing with real callers: registered keys before demo callers, and a heavy key
cannot starve a light one. The real router with accounts (embedded PostgreSQL and Redis) in
front of a real local upstream that takes 1.2 s per answer, held to one request at a time."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.accounts.http_rig import HttpRig
from tests.support.ordered_upstream import OrderedUpstream, start_ordered_upstream
from tests.support.router_harness import catalog_doc, model_doc, start_router

MODEL = "solo"


@pytest.fixture(scope="module")
def upstream() -> Iterator[OrderedUpstream]:
    up = start_ordered_upstream(delay_s=0.4)
    yield up
    up.stop()


@pytest.fixture(scope="module")
def queued_rig(moto_endpoint, pg, redis_server, workdir, upstream) -> Iterator[HttpRig]:
    catalog = catalog_doc(
        model_doc(MODEL, queue={"max_concurrency": 1, "max_depth": 8, "max_wait_s": 20}),
        accounts={"limits": {"demo": {"per_subject_rpm": 100, "per_subject_tpm": 100_000}}},
    )
    harness = start_router(
        moto_endpoint,
        catalog,
        database_url=pg.url(),
        redis_url=redis_server.url,
        data_dir=tempfile.mkdtemp(prefix="queue-", dir=workdir),
    )
    harness.add_instance(MODEL, upstream.url, instance_id="solo-1")
    harness.refresh()
    try:
        yield HttpRig(harness, upstream, pg.url())  # type: ignore[arg-type]
    finally:
        harness.stop()


def chat(rig: HttpRig, key: str | None, label: str, max_tokens: int = 16) -> httpx.Response:
    with rig.client(key) as c:
        return c.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "user", "content": label}],
                "max_tokens": max_tokens,
            },
        )


def wait_queued(rig: HttpRig, want: int, timeout_s: float = 10.0) -> int:
    deadline = time.monotonic() + timeout_s
    depth = -1
    with rig.admin() as c:
        while time.monotonic() < deadline:
            models = c.get("/v1/models").json()["data"]
            depth = next(m for m in models if m["id"] == MODEL)["status"]["router_queue_depth"]
            if depth == want:
                break
            time.sleep(0.02)
    return depth


def submit_queued(
    pool: ThreadPoolExecutor, rig: HttpRig, jobs: list[tuple[str | None, str, int]], start: int
) -> list[Future[Any]]:
    """Send each job once the one before it is in the queue, so arrival order is known."""
    futures = []
    for n, (key, label, max_tokens) in enumerate(jobs, start=start):
        futures.append(pool.submit(chat, rig, key, label, max_tokens))
        assert wait_queued(rig, n) == n
    return futures


def test_registered_request_queued_after_demo_ones_is_served_first(
    queued_rig: HttpRig, upstream: OrderedUpstream
) -> None:
    _, key = queued_rig.new_user()
    upstream.reset(delay_s=1.2)  # the holder outlasts queueing the others on a loaded machine
    with ThreadPoolExecutor(6) as pool:
        holder = pool.submit(chat, queued_rig, key, "holder")
        assert upstream.wait_arrivals(1) == ["holder"]
        queued = submit_queued(
            pool, queued_rig, [(None, "demo-1", 16), (None, "demo-2", 16), (key, "reg-1", 16)], 1
        )
        answers = [holder.result(), *(f.result() for f in queued)]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert upstream.arrivals == ["holder", "reg-1", "demo-1", "demo-2"]
    assert upstream.peak == 1


def test_a_light_key_is_not_starved_behind_a_heavy_keys_queue(
    queued_rig: HttpRig, upstream: OrderedUpstream
) -> None:
    _, heavy = queued_rig.new_user()
    _, light = queued_rig.new_user()
    upstream.reset(delay_s=1.2)  # the holder outlasts queueing the others on a loaded machine
    with ThreadPoolExecutor(6) as pool:
        holder = pool.submit(chat, queued_rig, heavy, "heavy-0", 200)
        assert upstream.wait_arrivals(1) == ["heavy-0"]
        jobs = [(heavy, "heavy-1", 200), (heavy, "heavy-2", 200), (light, "light-1", 10)]
        queued = submit_queued(pool, queued_rig, jobs, 1)
        answers = [holder.result(), *(f.result() for f in queued)]
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    # The light key came last but had nothing in flight: it goes before the heavy key's queue.
    assert upstream.arrivals == ["heavy-0", "light-1", "heavy-1", "heavy-2"]
