"""The router as Lambda runs it (Mangum handler) and SageMaker instances (moto's runtime)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from registry.repository import create_table
from routing.instances import Instance
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.lambda_entry import (
    LambdaContext,
    http_api_event,
    router_env_with_one_instance,
)
from tests.support.router_harness import catalog_doc, dynamodb, model_doc, start_router

CHAT = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model="alpha", name="lambda-up")
    yield handle
    handle.stop()


def test_mangum_handler_serves_buffered_routes(
    moto_endpoint: str, upstream: FaultUpstreamHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.handler as entry

    router_env_with_one_instance(monkeypatch, moto_endpoint, upstream.url, "lambda")
    monkeypatch.setattr(entry, "_handler", None)

    models = entry.handler(http_api_event("GET", "/v1/models"), LambdaContext())
    assert models["statusCode"] == 200
    assert [m["id"] for m in json.loads(models["body"])["data"]] == ["alpha"]

    chat = entry.handler(
        http_api_event("POST", "/v1/chat/completions", {**CHAT, "model": "alpha"}), LambdaContext()
    )
    assert chat["statusCode"] == 200
    assert chat["headers"]["x-motherfluxer-instance"] == "alpha-0"
    assert json.loads(chat["body"])["object"] == "chat.completion"

    bad = entry.handler(
        http_api_event("POST", "/v1/chat/completions", {"model": "nope", **CHAT}), LambdaContext()
    )
    assert bad["statusCode"] == 404
    assert json.loads(bad["body"])["error"]["code"] == "model_not_found"
    monkeypatch.setattr(entry, "_handler", None)


def test_sigv4_registration_through_the_lambda_entry(
    moto_endpoint: str, upstream: FaultUpstreamHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    import router.handler as entry

    table = "iamreg-" + uuid.uuid4().hex[:8]
    create_table(dynamodb(moto_endpoint), table)
    for key, value in {
        "MOTHERFLUXER_INSTANCES_TABLE": table,
        "MOTHERFLUXER_DYNAMODB_ENDPOINT": moto_endpoint,
        "MOTHERFLUXER_CATALOG": json.dumps(catalog_doc(model_doc("alpha"))),
        "MOTHERFLUXER_ADMIN_KEY": "admin-key-for-lambda-test",
        "MOTHERFLUXER_SIGNING_KEY": "signing-key-for-lambda-test",
        "MOTHERFLUXER_REGISTRATION_IAM": "true",
        "MOTHERFLUXER_REGISTRATION_ROLES": json.dumps({"alpha": "mf-alpha-role"}),
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(entry, "_handler", None)
    body = {"model": "alpha", "version": "v1", "kind": "openai", "base_url": upstream.url}
    good = "arn:aws:sts::123456789012:assumed-role/mf-alpha-role/task-1"
    other = "arn:aws:sts::123456789012:assumed-role/someone-else/x"

    assert (
        entry.handler(http_api_event("POST", "/instances/register", body), LambdaContext())[
            "statusCode"
        ]
        == 401
    )
    wrong = entry.handler(
        http_api_event("POST", "/instances/register", body, iam_arn=other), LambdaContext()
    )
    assert wrong["statusCode"] == 401
    ok = entry.handler(
        http_api_event("POST", "/instances/register", body, iam_arn=good), LambdaContext()
    )
    assert ok["statusCode"] == 201, ok["body"]
    reg = json.loads(ok["body"])
    beat = entry.handler(
        http_api_event(
            "POST",
            f"/instances/{reg['instance_id']}/heartbeat",
            {"in_flight": 0, "queue_depth": 0, "tokens_per_second": 0, "ready": True},
            headers={
                "authorization": "AWS4-HMAC-SHA256 Credential=...",
                "x-motherfluxer-instance-credential": reg["credential"],
            },
            iam_arn=good,
        ),
        LambdaContext(),
    )
    assert beat["statusCode"] == 200, beat["body"]
    monkeypatch.setattr(entry, "_handler", None)


def test_sagemaker_instances_are_invoked_through_the_runtime_api(moto_endpoint: str) -> None:
    answer = {
        "id": "chatcmpl-sm",
        "object": "chat.completion",
        "created": 1,
        "model": "phi-2",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "from sagemaker"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    # moto's runtime answers InvokeEndpoint with whatever result was queued for it.
    queued = httpx.post(
        moto_endpoint + "/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": json.dumps(answer), "ContentType": "application/json"}]},
    )
    assert queued.status_code == 201
    harness = start_router(
        moto_endpoint, catalog_doc(model_doc("phi-2")), sagemaker_endpoint=moto_endpoint
    )
    try:
        harness.repo.put(
            Instance(
                "sm-phi-2",
                "phi-2",
                "v1",
                "sagemaker",
                "mf-test-phi-2",
                last_heartbeat=time.time(),
                lease_seconds=0,
            )
        )
        harness.refresh()
        with harness.client() as c:
            resp = c.post("/v1/chat/completions", json={**CHAT, "model": "phi-2"})
        assert resp.status_code == 200, resp.text
        assert resp.json()["choices"][0]["message"]["content"] == "from sagemaker"
        assert resp.headers["x-motherfluxer-instance"] == "sm-phi-2"
    finally:
        harness.stop()
