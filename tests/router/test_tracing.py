"""OpenTelemetry tracing, exported over OTLP/HTTP to an in-process collector on loopback: a span
per request and per upstream attempt with the GenAI attributes; nothing loaded while off."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from router import tracing
from tests.infra.conftest import ROOT
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}


class Collector:
    """Accepts `POST /v1/traces` (OTLP protobuf) and keeps every span it decoded."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                export = ExportTraceServiceRequest()
                export.ParseFromString(body)
                with collector._lock:
                    collector.paths.append(self.path)
                    for rs in export.resource_spans:
                        for ss in rs.scope_spans:
                            collector.spans.extend(ss.spans)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tracing.flush()
            with self._lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.05)
        return list(self.spans)

    def clear(self) -> None:
        with self._lock:
            self.spans.clear()


def attrs(span: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = getattr(value, value.WhichOneof("value"))
    return out


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    mp = pytest.MonkeyPatch()
    mp.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", c.url)
    try:
        yield c
    finally:
        tracing.shutdown()
        mp.undo()
        c.server.shutdown()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[list[FaultUpstreamHandle]]:
    handles = [start_fault_upstream(model="alpha", name=f"alpha-{i}") for i in range(2)]
    try:
        yield handles
    finally:
        for h in handles:
            h.stop()


@pytest.fixture(scope="module")
def router(
    moto_endpoint: str, collector: Collector, upstreams: list[FaultUpstreamHandle]
) -> Iterator[RouterHarness]:
    harness = start_router(moto_endpoint, catalog_doc(model_doc("alpha")))
    for h in upstreams:
        harness.add_instance("alpha", h.url, instance_id=h.name)
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(autouse=True)
def _fresh(collector: Collector, upstreams: list[FaultUpstreamHandle]) -> None:
    tracing.flush()
    collector.clear()
    for h in upstreams:
        h.reset()


def _by_kind(spans: list[Any]) -> tuple[list[Any], list[Any]]:
    requests = [s for s in spans if "motherfluxer.request_id" in attrs(s)]
    attempts = [s for s in spans if "motherfluxer.instance_id" in attrs(s)]
    return requests, attempts


def test_a_request_and_its_attempt_are_spans_with_genai_attributes(
    router: RouterHarness, collector: Collector
) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
    assert resp.status_code == 200, resp.text
    usage = resp.json()["usage"]
    requests, attempts = _by_kind(collector.wait_for(2))
    assert collector.paths and all(p == "/v1/traces" for p in collector.paths)
    assert len(requests) == 1 and len(attempts) == 1
    req, att = requests[0], attempts[0]
    assert att.trace_id == req.trace_id and att.parent_span_id == req.span_id
    ra, aa = attrs(req), attrs(att)
    assert ra["gen_ai.request.model"] == "alpha"
    assert ra["gen_ai.response.model"] == "alpha"
    assert ra["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert ra["gen_ai.usage.output_tokens"] == usage["completion_tokens"] > 0
    assert aa["gen_ai.request.model"] == "alpha"
    assert aa["gen_ai.provider.name"] == "motherfluxer"
    assert aa["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert "gen_ai.response.model" in aa


def test_a_failed_attempt_and_its_retry_are_two_attempt_spans(
    router: RouterHarness, collector: Collector, upstreams: list[FaultUpstreamHandle]
) -> None:
    upstreams[0].set_fault("http_503", count=1)  # the first request it gets fails over
    rids: list[str] = []
    with router.client() as c:
        # Until the balancer has sent one to the failing instance (usually the first or second).
        for _ in range(20):
            resp = c.post("/v1/chat/completions", json={**CHAT, "model": "alpha"})
            assert resp.status_code == 200, resp.text
            rids.append(resp.headers["x-motherfluxer-request-id"])
            if resp.headers["x-motherfluxer-attempts"] == "2":
                break
    requests, attempts = _by_kind(collector.wait_for(2 * len(rids) + 1))
    requests = [r for r in requests if attrs(r)["motherfluxer.request_id"] in rids]
    assert len(requests) == len(rids)
    retried = [r for r in requests if attrs(r)["motherfluxer.attempts"] == 2]
    assert len(retried) == 1
    mine = [a for a in attempts if a.parent_span_id == retried[0].span_id]
    assert len(mine) == 2
    errors = [a for a in mine if a.status.code == a.status.STATUS_CODE_ERROR]
    assert len(errors) == 1
    assert attrs(errors[0])["motherfluxer.instance_id"] == "alpha-0"


def test_a_stream_ends_its_request_span_with_the_usage(
    router: RouterHarness, collector: Collector
) -> None:
    body = {**CHAT, "model": "alpha", "stream": True, "stream_options": {"include_usage": True}}
    with router.client() as c, c.stream("POST", "/v1/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        text = "".join(resp.iter_text())
    assert "[DONE]" in text
    requests, attempts = _by_kind(collector.wait_for(2))
    assert len(requests) == 1 and len(attempts) == 1
    ra = attrs(requests[0])
    assert ra["gen_ai.response.model"] == "alpha"
    assert ra["gen_ai.usage.output_tokens"] > 0


def test_a_refused_request_is_an_error_span(router: RouterHarness, collector: Collector) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "no-such-model"})
    assert resp.status_code == 404
    requests, _ = _by_kind(collector.wait_for(1))
    assert len(requests) == 1
    assert requests[0].status.code == requests[0].status.STATUS_CODE_ERROR
    assert attrs(requests[0])["http.response.status_code"] == 404


def test_off_by_default_loads_no_sdk_or_exporter() -> None:
    code = (
        "import sys\n"
        "import router.main, router.pipeline.run\n"
        "from router import tracing\n"
        "t = tracing.start_request('r', 'm', '/v1/chat/completions')\n"
        "with t.active(), tracing.attempt_span('m', 'openai', {}, 'i') as s:\n"
        "    assert s is None\n"
        "t.fail(RuntimeError())\n"
        "heavy = [m for m in sys.modules if m.startswith(('opentelemetry.sdk',"
        " 'opentelemetry.exporter', 'opentelemetry.proto'))]\n"
        "assert not heavy, heavy\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("lambdas", "containers", "."))
    done = subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
