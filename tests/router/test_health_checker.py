"""Active health checks against real HTTP instances (fault upstreams) and moto's DynamoDB."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import replace

import pytest

from health_checker.probe import check_all, probe_sagemaker
from health_checker.static import ensure_static, static_instances
from registry.repository import InstanceRepository, create_table
from routing.instances import Instance
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import dynamodb


@pytest.fixture
def repo(moto_endpoint: str) -> InstanceRepository:
    client = dynamodb(moto_endpoint)
    table = "hc-" + uuid.uuid4().hex[:8]
    create_table(client, table)
    return InstanceRepository(client, table)


@pytest.fixture(scope="module")
def upstream() -> FaultUpstreamHandle:
    handle = start_fault_upstream(model="m", name="hc-up")
    yield handle
    handle.stop()


def _inst(iid: str, url: str, **kw: object) -> Instance:
    fields = dict(
        instance_id=iid,
        model="m",
        version="v1",
        kind="openai",
        endpoint=url,
        last_heartbeat=time.time(),
        lease_seconds=30.0,
    )
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]


def test_failed_probe_marks_unhealthy_and_recovery_marks_healthy(
    repo: InstanceRepository, upstream: FaultUpstreamHandle
) -> None:
    repo.put(_inst("a", upstream.url))
    upstream.set_fault("http_500")
    report = asyncio.run(check_all(repo, timeout_s=1.0))
    assert report.changed == ["a"]
    assert repo.get("a").status == "unhealthy"
    assert report.unhealthy_by_model == {"m": 1}
    upstream.reset()
    asyncio.run(check_all(repo, timeout_s=1.0))
    assert repo.get("a").status == "healthy"


def test_unreachable_and_stale_instances_go_unhealthy(
    repo: InstanceRepository, upstream: FaultUpstreamHandle
) -> None:
    upstream.reset()
    repo.put(_inst("dead", "http://127.0.0.1:9"))
    repo.put(_inst("stale", upstream.url, last_heartbeat=time.time() - 120))
    repo.put(_inst("drained", "http://127.0.0.1:9", status="draining"))
    asyncio.run(check_all(repo, timeout_s=1.0))
    assert repo.get("dead").status == "unhealthy"
    assert repo.get("stale").status == "unhealthy", "a live probe does not excuse a stale lease"
    assert repo.get("drained").status == "draining", "operators own draining"


def test_health_writes_survive_concurrent_breaker_updates(
    repo: InstanceRepository, upstream: FaultUpstreamHandle
) -> None:
    upstream.reset()
    repo.put(_inst("b", "http://127.0.0.1:9"))
    # Another writer bumps the item between the checker's read and its write.
    repo.apply("b", lambda i: replace(i, ejection_count=3))
    asyncio.run(check_all(repo, timeout_s=1.0))
    stored = repo.get("b")
    assert stored.status == "unhealthy" and stored.ejection_count == 3


def test_static_sagemaker_and_provider_instances(repo: InstanceRepository) -> None:
    items = static_instances(
        {"phi-2": {"v1": "mf-dev-phi-2-v1"}},
        {
            "gpt-4o-mini": {
                "provider": "openai",
                "base_url": "https://api.example.invalid/v1/",
                "model": "gpt-4o-mini",
                "api_key_secret": "arn:aws:secretsmanager:...:key",
            },
            "claude": {"provider": "anthropic", "base_url": None},
            "mystery": {"provider": "carrier-pigeon", "base_url": None},
        },
    )
    assert {i.instance_id for i in items} == {
        "sm-mf-dev-phi-2-v1",
        "ext-gpt-4o-mini",
        "ext-claude",
    }, "every provider with a client is served; unknown ones are skipped"
    assert {i.kind for i in items if i.instance_id.startswith("ext-")} == {"external"}
    assert ensure_static(repo, items) == 3
    repo.apply("sm-mf-dev-phi-2-v1", lambda i: replace(i, status="unhealthy"))
    assert ensure_static(repo, items) == 0, "existing items keep their state"
    assert repo.get("sm-mf-dev-phi-2-v1").status == "unhealthy"
    ext = repo.get("ext-gpt-4o-mini")
    assert ext.endpoint == "https://api.example.invalid/v1"
    assert ext.tags["api_key_secret"].startswith("arn:")


class _Endpoints:
    """Stands in for the SageMaker control-plane client: only DescribeEndpoint is read."""

    def __init__(self, status: str) -> None:
        self.status = status

    def describe_endpoint(self, EndpointName: str) -> dict[str, str]:
        return {"EndpointStatus": self.status}


@pytest.mark.parametrize(
    ("status", "ok"), [("InService", True), ("Updating", True), ("Failed", False)]
)
def test_sagemaker_endpoint_status(status: str, ok: bool) -> None:
    inst = _inst("sm", "ep", kind="sagemaker", lease_seconds=0.0)
    assert probe_sagemaker(_Endpoints(status), inst).ok is ok
