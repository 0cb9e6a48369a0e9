"""Driving the router's Lambda entry in-process: HTTP API events, a context, and the environment
of a router whose instances table holds one live instance."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from registry.repository import InstanceRepository, create_table
from routing.instances import Instance
from tests.support.router_harness import catalog_doc, dynamodb, model_doc


class LambdaContext:
    """What Mangum and the router read from a Lambda context object."""

    def __init__(self, function_name: str = "motherfluxer-test-router") -> None:
        self.function_name = function_name
        self.aws_request_id = "req-test"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def http_api_event(
    method: str,
    path: str,
    body: dict | None = None,
    headers: dict | None = None,
    iam_arn: str | None = None,
) -> dict:
    """An API Gateway HTTP API (payload 2.0) event, as the Lambda integration delivers it."""
    raw = json.dumps(body).encode() if body is not None else b""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.test", **(headers or {})},
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "sourceIp": "198.51.100.7",
                "protocol": "HTTP/1.1",
            },
            "requestId": uuid.uuid4().hex,
            "stage": "$default",
            # What API Gateway's IAM authorizer adds once it has verified a SigV4 signature.
            **({"authorizer": {"iam": {"userArn": iam_arn}}} if iam_arn else {}),
        },
        "body": base64.b64encode(raw).decode(),
        "isBase64Encoded": True,
    }


def router_env_with_one_instance(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, upstream_url: str, name: str
) -> None:
    """A fresh table with instance `alpha-0` of model `alpha` at `upstream_url`, and the
    environment the Lambda entry builds its router from."""
    client = dynamodb(moto_endpoint)
    table = f"{name}-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    InstanceRepository(client, table).put(
        Instance(
            "alpha-0",
            "alpha",
            "v1",
            "openai",
            upstream_url,
            last_heartbeat=time.time(),
            lease_seconds=0,
        )
    )
    for key, value in {
        "MOTHERFLUXER_INSTANCES_TABLE": table,
        "MOTHERFLUXER_DYNAMODB_ENDPOINT": moto_endpoint,
        "MOTHERFLUXER_CATALOG": json.dumps(catalog_doc(model_doc("alpha"))),
        "MOTHERFLUXER_ADMIN_KEY": f"admin-key-for-{name}-test",
        "MOTHERFLUXER_SIGNING_KEY": f"signing-key-for-{name}-test",
    }.items():
        monkeypatch.setenv(key, value)
