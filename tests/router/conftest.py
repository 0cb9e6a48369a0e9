from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router


@pytest.fixture(scope="module")
def upstreams() -> Iterator[list[FaultUpstreamHandle]]:
    handles = [start_fault_upstream(model="alpha", name=f"alpha-{i}") for i in range(2)]
    handles.append(start_fault_upstream(model="beta", name="beta-0"))
    try:
        yield handles
    finally:
        for h in handles:
            h.stop()


@pytest.fixture(scope="module")
def router(moto_endpoint: str, upstreams: list[FaultUpstreamHandle]) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        model_doc("alpha", fallback="beta", specialization={"chat": 0.9}),
        model_doc("beta", specialization={"chat": 0.5, "coding": 0.9}),
        model_doc("gamma"),
    )
    harness = start_router(moto_endpoint, catalog, max_body_bytes=64 * 1024)
    for h in upstreams:
        harness.add_instance(h.server.model, h.url, instance_id=h.name)
    try:
        yield harness
    finally:
        harness.stop()


@pytest.fixture(autouse=True)
def _healthy_upstreams(upstreams: list[FaultUpstreamHandle]) -> Iterator[None]:
    for h in upstreams:
        h.reset()
    yield
