"""The chat API surface as OpenAI gives it (issue 11): `model` required, `n`, `max_tokens`
limits, model ids other gateways accept, fresh ids on cache hits, a complete `/openapi.json`,
`Allow` naming every method, and uvicorn's own 400 in the JSON error shape."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from openai.types.chat import ChatCompletion

from router.http_errors import JsonBadRequestH11, json_bad_request_httptools
from router.server_limits import GuardedHttpToolsProtocol
from tests.ingress.conftest import CHAT, AccountsRouter
from tests.ingress.strict import strict
from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

MULTI = "mock-multi"
ASK = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def surface(moto_endpoint: str, upstream: OpenAIWireMock) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        model_doc(CHAT, owned_by="acme", aliases=["acme/chat-latest"], max_output_tokens=512),
        model_doc(MULTI, capabilities=["text", "chat", "multiple_choices"]),
    )
    harness = start_router(moto_endpoint, catalog)
    for model in (CHAT, MULTI):
        harness.add_instance(model, upstream.url)
    deadline = time.monotonic() + 10
    with harness.client() as client:
        while time.monotonic() < deadline:
            data = client.get("/v1/models").json()["data"]
            if all(m["status"]["healthy_instances"] for m in data):
                break
            time.sleep(0.05)
    yield harness
    harness.stop()


def _chat(router: RouterHarness, **body: Any) -> httpx.Response:
    with router.client() as c:
        return c.post("/v1/chat/completions", json={"messages": ASK, **body})


def test_model_is_required_and_auto_asks_for_selection(surface: RouterHarness) -> None:
    missing = _chat(surface, max_tokens=5)
    assert missing.status_code == 400
    assert missing.json()["error"]["param"] == "model"
    with surface.client() as c:
        legacy = c.post("/v1/completions", json={"prompt": "Once", "max_tokens": 3})
        inference = c.post("/inference", json={"prompt": "hello there"})
    assert legacy.status_code == 400 and legacy.json()["error"]["param"] == "model"
    # Seed 003's /inference keeps its own default: no model means auto-selection, so it is
    # routed to an instance (this mock speaks only the OpenAI wire, hence its 404).
    assert inference.json()["error"]["code"] == "upstream_404", inference.text
    auto = _chat(surface, model="auto", max_tokens=5)
    assert auto.status_code == 200 and auto.headers["x-motherfluxer-route-reason"]


def test_sdk_raises_bad_request_without_a_model(surface: RouterHarness) -> None:
    client = openai.OpenAI(base_url=surface.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(messages=ASK, model=openai.omit)  # type: ignore[call-overload]
    assert caught.value.body["param"] == "model"  # type: ignore[index]


def test_n_null_is_accepted_and_n_above_one_needs_a_capable_model(
    surface: RouterHarness, upstream: OpenAIWireMock
) -> None:
    assert _chat(surface, model=CHAT, n=None, max_tokens=5).status_code == 200
    # null is the default: the instance never sees it (the model server refuses `n: null`).
    assert "n" not in upstream.bodies("/v1/chat/completions")[-1]
    refused = _chat(surface, model=CHAT, n=2, max_tokens=5)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "n"
    served = _chat(surface, model=MULTI, n=2, max_tokens=5)
    assert served.status_code == 200, served.text
    assert upstream.bodies("/v1/chat/completions")[-1]["n"] == 2


@pytest.mark.parametrize("name", ["MOCK-CHAT", "acme/mock-chat", "ACME/Chat-Latest"])
def test_ids_as_other_gateways_write_them(surface: RouterHarness, name: str) -> None:
    resp = _chat(surface, model=name, max_tokens=5)
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-model"] == CHAT
    strict(ChatCompletion, resp.json())


def test_openrouter_models_list_is_an_ordered_fallback(
    surface: RouterHarness, upstream: OpenAIWireMock
) -> None:
    only_list = _chat(surface, models=[MULTI, CHAT], max_tokens=5)
    assert only_list.status_code == 200, only_list.text
    assert only_list.headers["x-motherfluxer-model"] == MULTI
    # The instance never sees the gateway's routing field.
    assert "models" not in upstream.bodies("/v1/chat/completions")[-1]
    head_first = _chat(surface, model="mock-chat", models=[MULTI], max_tokens=5)
    assert head_first.headers["x-motherfluxer-model"] == CHAT
    unknown = _chat(surface, models=["no-such-model"], max_tokens=5)
    assert unknown.status_code == 404


def test_max_tokens_above_the_models_limit_is_a_400(accounts_router: AccountsRouter) -> None:
    key = accounts_router.new_key()
    client = openai.OpenAI(base_url=accounts_router.url + "/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        # Beyond the context window too (4096): the max_tokens rule is what the caller hears.
        client.chat.completions.create(model=CHAT, messages=ASK, max_tokens=5000)
    assert caught.value.body["param"] == "max_tokens"  # type: ignore[index]
    assert "supports at most 1024" in caught.value.message
    with pytest.raises(openai.BadRequestError) as newer:
        client.chat.completions.create(model=CHAT, messages=ASK, max_completion_tokens=2000)
    assert newer.value.body["param"] == "max_completion_tokens"  # type: ignore[index]
    fits = client.chat.completions.with_raw_response.create(
        model=CHAT, messages=ASK, max_tokens=1024
    )
    assert "x-motherfluxer-max-tokens-clamped" not in fits.headers


def test_the_demo_tier_is_clamped_and_told_so(accounts_router: AccountsRouter) -> None:
    with httpx.Client(base_url=accounts_router.url, timeout=30) as c:
        resp = c.post(
            "/v1/chat/completions", json={"model": CHAT, "messages": ASK, "max_tokens": 5000}
        )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-max-tokens-clamped"] == "5000->64"


def test_a_chat_cache_hit_is_a_fresh_response(accounts_router: AccountsRouter) -> None:
    key = accounts_router.new_key()
    client = openai.OpenAI(base_url=accounts_router.url + "/v1", api_key=key, max_retries=0)
    ask = {"model": CHAT, "messages": ASK, "max_tokens": 7, "temperature": 0}
    first = client.chat.completions.with_raw_response.create(**ask)
    time.sleep(1.1)
    second = client.chat.completions.with_raw_response.create(**ask)
    assert second.headers.get("x-motherfluxer-cache") == "hit"
    a, b = first.parse(), second.parse()
    assert a.id != b.id and b.id.startswith("chatcmpl-")
    assert b.created > a.created
    assert a.choices[0].message.content == b.choices[0].message.content
    strict(ChatCompletion, second.http_response.json())


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def test_openapi_defines_every_schema_it_references(surface: RouterHarness) -> None:
    with surface.client() as c:
        doc = c.get("/openapi.json").json()
    defined = set(doc["components"]["schemas"])
    wanted = {ref.rsplit("/", 1)[-1] for ref in _refs(doc)}
    assert {"ChatCompletionRequest", "CompletionRequest"} <= wanted
    assert wanted <= defined, wanted - defined
    chat = doc["components"]["schemas"]["ChatCompletionRequest"]
    assert "model" in chat["required"]


def test_allow_names_both_methods_of_a_path(surface: RouterHarness) -> None:
    with surface.client() as c:
        resp = c.post("/v1/responses/resp_123", json={})
    assert resp.status_code == 405
    assert {m.strip() for m in resp.headers["allow"].split(",")} >= {"GET", "DELETE"}
    assert set(resp.json()["error"]) == {"type", "message", "param", "code"}


async def _hello(scope: dict, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.mark.parametrize(
    "protocol", [JsonBadRequestH11, json_bad_request_httptools(GuardedHttpToolsProtocol)]
)
def test_an_unparseable_request_gets_the_json_error_shape(protocol: type) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_hello, host="127.0.0.1", port=port, http=protocol, log_level="error")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
            raw = b""
            while chunk := conn.recv(4096):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400")
        assert b"application/json" in head.lower()
        error = httpx.Response(400, content=body).json()["error"]
        assert error["type"] == "invalid_request_error" and "param" in error
        assert error["message"] == "Invalid HTTP request received."
    finally:
        server.should_exit = True
        thread.join(timeout=10)
