"""In Lambda the spans of a request reach the collector before its response has ended.

The environment freezes once an invocation's response is complete, so the batch processor's
timer must not be what exports. Here its timer is set to a minute: any span seen by the
in-process OTLP collector as soon as the response is over was flushed by the response's end.
Both Lambda hosts are run: the Web Adapter's (uvicorn, buffered and streamed) and Mangum's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from router import tracing
from tests.router.test_tracing import Collector, attrs
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.lambda_entry import (
    LambdaContext,
    http_api_event,
    router_env_with_one_instance,
)
from tests.support.router_harness import (
    RouterHarness,
    catalog_doc,
    model_doc,
    start_router,
)

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}
FUNCTION = "motherfluxer-test-stream"


def _requests(collector: Collector) -> list[Any]:
    """Request spans received so far, without flushing anything here."""
    with collector._lock:
        spans = list(collector.spans)
    return [s for s in spans if "motherfluxer.request_id" in attrs(s)]


@pytest.fixture(scope="module")
def lambda_env() -> Iterator[Collector]:
    collector = Collector()
    mp = pytest.MonkeyPatch()
    tracing.shutdown()  # a tracer made by another module would keep its own timer
    mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    mp.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    mp.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    try:
        yield collector
    finally:
        tracing.shutdown()
        mp.undo()
        collector.server.shutdown()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="alpha", name="alpha-flush")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture(scope="module")
def router(
    moto_endpoint: str, lambda_env: Collector, upstream: FaultUpstreamHandle
) -> Iterator[RouterHarness]:
    harness = start_router(moto_endpoint, catalog_doc(model_doc("alpha")))
    harness.add_instance("alpha", upstream.url, instance_id=upstream.name)
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(autouse=True)
def _fresh(lambda_env: Collector) -> None:
    lambda_env.clear()


def test_a_buffered_answer_has_exported_its_spans_when_it_ends(
    router: RouterHarness, lambda_env: Collector
) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
        seen = _requests(lambda_env)
    assert resp.status_code == 200, resp.text
    assert len(seen) == 1
    assert attrs(seen[0])["gen_ai.response.model"] == "alpha"
    # The attempt span went in the same export.
    assert any("motherfluxer.instance_id" in attrs(s) for s in lambda_env.spans)


def test_a_stream_has_exported_its_spans_when_its_last_event_is_read(
    router: RouterHarness, lambda_env: Collector
) -> None:
    body = {**CHAT, "model": "alpha", "stream": True, "stream_options": {"include_usage": True}}
    with router.client() as c, c.stream("POST", "/v1/chat/completions", json=body) as resp:
        text = "".join(resp.iter_text())
        seen = _requests(lambda_env)
    assert "[DONE]" in text
    assert len(seen) == 1
    assert attrs(seen[0])["gen_ai.usage.output_tokens"] > 0


def test_a_refusal_is_exported_before_its_response_ends(
    router: RouterHarness, lambda_env: Collector
) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
        seen = _requests(lambda_env)
    assert resp.status_code == 404
    assert len(seen) == 1 and attrs(seen[0])["http.response.status_code"] == 404


def test_the_mangum_handler_returns_only_after_the_export(
    moto_endpoint: str,
    lambda_env: Collector,
    upstream: FaultUpstreamHandle,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import router.handler as entry

    router_env_with_one_instance(monkeypatch, moto_endpoint, upstream.url, "flush")
    monkeypatch.setattr(entry, "_handler", None)
    try:
        answer = entry.handler(
            http_api_event("POST", "/v1/chat/completions", {**CHAT, "model": "alpha"}),
            LambdaContext(FUNCTION),
        )
        seen = _requests(lambda_env)
    finally:
        monkeypatch.setattr(entry, "_handler", None)
    assert answer["statusCode"] == 200, answer["body"]
    assert len(seen) == 1


def test_outside_lambda_no_flush_is_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi import FastAPI

    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    app = FastAPI()
    tracing.install(app)
    assert not any(m.cls is tracing.FlushAtResponseEnd for m in app.user_middleware)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    tracing.install(app)
    assert any(m.cls is tracing.FlushAtResponseEnd for m in app.user_middleware)
