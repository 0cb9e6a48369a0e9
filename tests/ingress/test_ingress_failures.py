"""Failures seen through the ingress protocols: each status arrives as the SDK's own exception
class, and a stream that breaks mid-answer ends in the protocol's error event."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.ingress.conftest import CHAT
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream
from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import (
    RouterHarness,
    catalog_doc,
    free_port,
    model_doc,
    start_router,
)

IDLE = "mock-idle"  # its one instance refuses connections: a 502 from the router
FAULTY = "mock-faulty"


@pytest.fixture(scope="module")
def faulty() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model=FAULTY)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def failing_router(
    moto_endpoint: str, upstream: OpenAIWireMock, faulty: FaultUpstreamHandle
) -> Iterator[RouterHarness]:
    catalog = catalog_doc(model_doc(CHAT), model_doc(IDLE), model_doc(FAULTY))
    harness = start_router(moto_endpoint, catalog)
    harness.add_instance(CHAT, upstream.url)
    harness.add_instance(FAULTY, faulty.url)
    harness.add_instance(IDLE, f"http://127.0.0.1:{free_port()}")
    with harness.client() as client:
        for _ in range(100):
            data = {
                m["id"]: m["status"]["healthy_instances"]
                for m in client.get("/v1/models").json()["data"]
            }
            if data[CHAT] and data[FAULTY] and data[IDLE]:
                break
            harness.refresh()
    yield harness
    harness.stop()


def test_a_dead_instance_is_a_server_error_in_both_sdks(failing_router: RouterHarness) -> None:
    oa = openai.OpenAI(base_url=failing_router.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        oa.responses.create(model=IDLE, input="x")
    assert info.value.status_code in (502, 503) and "param" in info.value.body  # type: ignore[operator]
    an = anthropic.Anthropic(base_url=failing_router.url, api_key="x", max_retries=0)
    with pytest.raises(anthropic.InternalServerError) as server:
        an.messages.create(model=IDLE, max_tokens=4, messages=[{"role": "user", "content": "x"}])
    # Anthropic's statuses: api_error is a 500, overloaded_error (nothing can serve) a 529.
    assert (server.value.status_code, server.value.body["error"]["type"]) in (  # type: ignore[index]
        (500, "api_error"),
        (529, "overloaded_error"),
    )


def test_responses_stream_broken_mid_answer_ends_with_error_and_failed(
    failing_router: RouterHarness, faulty: FaultUpstreamHandle
) -> None:
    faulty.set_fault("error_in_stream", chunks=2)
    oa = openai.OpenAI(base_url=failing_router.url + "/v1", api_key="x", max_retries=0)
    try:
        events = list(oa.responses.create(model=FAULTY, input="x", stream=True))
    finally:
        faulty.reset()
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and "response.output_text.delta" in kinds
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds


def test_messages_stream_broken_mid_answer_raises_in_the_sdk(
    failing_router: RouterHarness, faulty: FaultUpstreamHandle
) -> None:
    faulty.set_fault("error_in_stream", chunks=2)
    an = anthropic.Anthropic(base_url=failing_router.url, api_key="x", max_retries=0)
    try:
        with pytest.raises(anthropic.APIStatusError) as info:
            with an.messages.stream(
                model=FAULTY, max_tokens=8, messages=[{"role": "user", "content": "x"}]
            ) as stream:
                "".join(stream.text_stream)
    finally:
        faulty.reset()
    assert info.value.body["error"]["type"] == "api_error"  # type: ignore[index]
