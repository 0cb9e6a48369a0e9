"""SageMaker inference components through the router, against a SageMaker runtime on loopback.

The runtime below speaks the real wire protocol (rest-json, the component in the
`X-Amzn-SageMaker-Inference-Component` header); boto3 really calls it and really parses its
errors. A component scaled to zero answers, as SageMaker does, a ValidationError "Inference
Component has no capacity to process this request": the router must answer that from the
request's fallback, or with 503 and a Retry-After of the model's wake time.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from health_checker.probe import check_all, probe_sagemaker
from router.upstream.base import UpstreamFailure
from router.upstream.sagemaker import Component, _translate, component_of, parse_components
from routing.instances import Instance
from routing.outcome import Outcome
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}
ENDPOINT = "mf-test-phi-2-v1"
COMPONENT = "mf-test-phi-2-v1-ic"
WAKE_SECONDS = 900
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling may "
    "be in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
HEADER = "X-Amzn-SageMaker-Inference-Component"
ARN = "arn:aws:sagemaker:us-east-1:123456789012"


@dataclass
class Runtime:
    url: str
    copies: int = 1
    calls: list[tuple[str, str | None]] = field(default_factory=list)


def _answer() -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-ic",
            "object": "chat.completion",
            "created": 1,
            "model": "phi-2",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "from the component"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6},
        }
    ).encode()


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    state = Runtime(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            state.calls.append((self.path, self.headers.get(HEADER)))
            if self.headers.get(HEADER) is None:
                self._send(400, {"__type": "ValidationError", "message": "header required"})
            elif state.copies == 0:
                self._send(400, {"__type": "ValidationError", "message": NO_CAPACITY})
            else:
                body = _answer()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        def _send(self, status: int, doc: dict) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/x-amz-json-1.1")
            self.send_header("x-amzn-ErrorType", doc["__type"])
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def small() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="small", name="small-ic")
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def router(
    moto_endpoint: str, runtime: Runtime, small: FaultUpstreamHandle
) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        model_doc("phi-2"),
        model_doc("small"),
        scale_to_zero={"phi-2": {"wake_seconds": WAKE_SECONDS}},
    )
    harness = start_router(
        moto_endpoint,
        catalog,
        sagemaker_endpoint=runtime.url,
        sagemaker_components={ENDPOINT: {"component": COMPONENT, "wake_seconds": WAKE_SECONDS}},
    )
    harness.repo.put(
        Instance(
            f"sm-{ENDPOINT}",
            "phi-2",
            "v1",
            "sagemaker",
            ENDPOINT,
            status="healthy",
            last_heartbeat=time.time(),
            lease_seconds=0,
        )
    )
    harness.add_instance("small", small.url, instance_id="small-0")
    harness.refresh()
    try:
        yield harness
    finally:
        harness.stop()


def test_an_awake_component_is_invoked_by_name(router: RouterHarness, runtime: Runtime) -> None:
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["choices"][0]["message"]["content"] == "from the component"
    assert runtime.calls == [(f"/endpoints/{ENDPOINT}/invocations", COMPONENT)]


def test_a_component_at_zero_copies_is_503_with_the_wake_time(
    router: RouterHarness, runtime: Runtime
) -> None:
    runtime.copies = 0
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2"})
        again = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2"})
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == str(WAKE_SECONDS)
    # The sleeping endpoint was called once (that call is what wakes it: the alarm on
    # NoCapacityInvocationFailures); after it, this router keeps off it while it wakes.
    assert runtime.calls == [(f"/endpoints/{ENDPOINT}/invocations", COMPONENT)]
    assert again.status_code == 503, again.text


def test_a_streamed_request_to_a_sleeping_component_names_it_and_waits_the_wake(
    router: RouterHarness, runtime: Runtime
) -> None:
    runtime.copies = 0
    with router.client() as c:
        resp = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2", "stream": True})
    assert resp.status_code == 503, resp.text
    assert resp.headers["Retry-After"] == str(WAKE_SECONDS)
    assert runtime.calls == [(f"/endpoints/{ENDPOINT}/invocations-response-stream", COMPONENT)]


def test_a_sleeping_component_answers_from_the_requests_fallback(
    router: RouterHarness, runtime: Runtime
) -> None:
    runtime.copies = 0
    body = {"prompt": "hello", "max_length": 4, "preferred_model": "phi-2"}
    with router.client() as c:
        resp = c.post("/inference", json={**body, "fallback_mode": ["small"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == "small"
    assert len(runtime.calls) == 1


def test_other_validation_errors_are_not_taken_for_sleep() -> None:
    class Err(Exception):
        def __init__(self, message: str) -> None:
            self.response = {
                "Error": {"Code": "ValidationError", "Message": message},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }

    asleep = _translate(Err(NO_CAPACITY), Component(COMPONENT, 420))
    assert isinstance(asleep, UpstreamFailure)
    assert asleep.outcome is Outcome.conn_refused and asleep.retry_after == 420
    missing = _translate(Err("Endpoint mf-x of account 1 not found."), Component(COMPONENT, 420))
    assert missing.outcome is not Outcome.conn_refused and missing.retry_after is None


def test_the_component_comes_from_the_instance_tags_before_the_stack_map() -> None:
    components = parse_components({ENDPOINT: {"component": COMPONENT, "wake_seconds": 300}})
    plain = Instance("sm-a", "phi-2", "v1", "sagemaker", ENDPOINT)
    assert component_of(plain, components) == Component(COMPONENT, 300)
    tagged = Instance(
        "sm-b", "phi-2", "v1", "sagemaker", ENDPOINT, tags={"inference_component": "other"}
    )
    assert component_of(tagged, components) == Component("other", 300)
    classic = Instance("sm-c", "phi-2", "v1", "sagemaker", "mf-classic")
    assert component_of(classic, components) is None


def _described(copies: int, status: str = "InService") -> dict:
    return {
        "InferenceComponentName": COMPONENT,
        "InferenceComponentArn": f"{ARN}:inference-component/{COMPONENT}",
        "EndpointName": ENDPOINT,
        "EndpointArn": f"{ARN}:endpoint/{ENDPOINT}",
        "CreationTime": datetime(2026, 12, 1, tzinfo=UTC),
        "LastModifiedTime": datetime(2026, 12, 1, tzinfo=UTC),
        "InferenceComponentStatus": status,
        "RuntimeConfig": {"DesiredCopyCount": copies, "CurrentCopyCount": copies},
    }


@pytest.mark.parametrize(
    ("copies", "status", "ok"),
    [(1, "InService", True), (0, "InService", False), (2, "Failed", False)],
)
def test_health_checker_takes_a_component_with_no_copy_out_of_rotation(
    copies: int, status: str, ok: bool
) -> None:
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker", region_name="us-east-1")
    inst = Instance(f"sm-{ENDPOINT}", "phi-2", "v1", "sagemaker", ENDPOINT, lease_seconds=0)
    with Stubber(client) as stub:
        stub.add_response(
            "describe_inference_component",
            _described(copies, status),
            {"InferenceComponentName": COMPONENT},
        )
        result = probe_sagemaker(client, inst, COMPONENT)
        stub.assert_no_pending_responses()
    assert result.ok is ok, result.detail
    assert f"{copies} copies" in result.detail


def test_check_all_probes_the_component_the_stack_names(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    import boto3
    from botocore.stub import Stubber

    from registry.repository import InstanceRepository, create_table

    monkeypatch.setenv(
        "MOTHERFLUXER_SAGEMAKER_COMPONENTS",
        json.dumps({ENDPOINT: {"component": COMPONENT, "wake_seconds": WAKE_SECONDS}}),
    )
    dynamo = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    table = "t-ic-" + str(int(time.time() * 1000))
    create_table(dynamo, table)
    repo = InstanceRepository(dynamo, table)
    repo.put(
        Instance(
            f"sm-{ENDPOINT}",
            "phi-2",
            "v1",
            "sagemaker",
            ENDPOINT,
            status="healthy",
            last_heartbeat=time.time(),
            lease_seconds=0,
        )
    )
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_response(
            "describe_inference_component", _described(0), {"InferenceComponentName": COMPONENT}
        )
        report = asyncio.run(check_all(repo, sagemaker_client_factory=lambda: client))
    assert report.changed == [f"sm-{ENDPOINT}"]
    assert repo.get(f"sm-{ENDPOINT}").status == "unhealthy"


def test_once_out_of_rotation_the_model_sleeps_as_ecs_ones_do(
    router: RouterHarness, runtime: Runtime
) -> None:
    """What the router does after the health checker has seen zero copies: router/wake.py's
    path (model_waking, WakeRequests counted, the model's wake time), no SageMaker call."""
    router.repo.apply(f"sm-{ENDPOINT}", lambda i: replace(i, status="unhealthy"))
    router.refresh()
    with router.client() as c:
        deadline = time.monotonic() + 5
        while True:
            resp = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2"})
            if resp.status_code == 503 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        metrics = c.get("/metrics", headers=router.admin).text
        body = {"prompt": "hello", "max_length": 4, "preferred_model": "phi-2"}
        fallback = c.post("/inference", json={**body, "fallback_mode": ["small"]})
    assert resp.status_code == 503, resp.text
    assert resp.json()["error"]["code"] == "model_waking"
    assert resp.headers["Retry-After"] == str(WAKE_SECONDS)
    assert re.search(r'motherfluxer_wake_requests_total\{[^}]*model="phi-2"[^}]*\} [1-9]', metrics)
    assert fallback.status_code == 200 and fallback.json()["model"] == "small"
    assert runtime.calls == []
