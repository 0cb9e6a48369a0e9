"""Readiness: `/health` (and `/health/ready`) say 200 only once every served model can be
routed, so a client that waits for it is never told "model not served"."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 3}


@pytest.fixture()
def upstream() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="late", name="late-0")
    try:
        yield handle
    finally:
        handle.stop()


def _settled(c: httpx.Client, path: str, check: Callable[[httpx.Response], bool]) -> httpx.Response:
    """The answer once the router's instance snapshot (refreshed in the background) shows the
    change just written; fails after 5 s."""
    deadline = time.monotonic() + 5
    while True:
        resp = c.get(path)
        if check(resp) or time.monotonic() > deadline:
            return resp
        time.sleep(0.05)


def _start(moto_endpoint: str, **extra: object) -> RouterHarness:
    catalog = catalog_doc(model_doc("early"), model_doc("late"), **extra)
    return start_router(moto_endpoint, catalog)


def test_ready_only_once_every_served_model_is_routable(
    moto_endpoint: str, upstream: FaultUpstreamHandle
) -> None:
    router = _start(moto_endpoint)
    try:
        early = start_fault_upstream(model="early", name="early-0")
        try:
            with router.client() as c:
                assert c.get("/health/live").status_code == 200
                empty = c.get("/health")
                assert empty.status_code == 503
                assert empty.json()["readiness"]["early"]["ready"] is False

                router.add_instance("early", early.url, instance_id="early-0")
                half = _settled(
                    c, "/health/ready", lambda r: r.json()["readiness"]["early"]["ready"]
                )
                assert half.status_code == 503
                assert half.json()["readiness"]["early"]["ready"] is True
                assert half.json()["readiness"]["late"] == {
                    "ready": False,
                    "routable_instances": 0,
                    "versions": [],
                }

                router.add_instance("late", upstream.url, instance_id="late-0")
                _settled(c, "/health", lambda r: r.status_code == 200)
                for path in ("/health", "/health/ready"):
                    ready = c.get(path)
                    assert ready.status_code == 200, ready.text
                    assert ready.json()["ready"] is True
                # The moment it says ready, every served model answers.
                for model in ("early", "late"):
                    chat = c.post("/v1/chat/completions", json={**CHAT, "model": model})
                    assert chat.status_code == 200, chat.text
        finally:
            early.stop()
    finally:
        router.stop()


def test_readiness_models_narrow_what_must_be_routable(
    moto_endpoint: str, upstream: FaultUpstreamHandle
) -> None:
    # A stage whose "early" model scales to zero leaves it out of readiness.
    router = _start(moto_endpoint, readiness={"models": ["late"]})
    try:
        router.add_instance("late", upstream.url, instance_id="late-0")
        with router.client() as c:
            resp = _settled(c, "/health", lambda r: r.status_code == 200)
        assert resp.status_code == 200, resp.text
        assert set(resp.json()["readiness"]) == {"late"}
    finally:
        router.stop()
