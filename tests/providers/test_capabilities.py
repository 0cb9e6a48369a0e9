"""No silent drops: missing capabilities are 400s naming `param`, before any upstream call."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import openai
import pytest

from routing.requirements import Need, missing_need, request_needs
from tests.providers.conftest import external
from tests.support.mock_anthropic import AnthropicMock
from tests.support.router_harness import RouterHarness

KEY = "sk-ant-capabilities-7f3a9c"
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://img.example.com/a.png"}}


@pytest.fixture(scope="module")
def mock(provider_router: RouterHarness, clean_provider_env) -> Iterator[AnthropicMock]:
    clean_provider_env.setenv("ANTHROPIC_API_KEY", KEY)
    with AnthropicMock(KEY) as server:
        external(provider_router, "claude", "anthropic", server.url, instance_id="cap-claude")
        external(provider_router, "plain", "anthropic", server.url, instance_id="cap-plain")
        provider_router.refresh()
        yield server


@pytest.fixture
def client(provider_router: RouterHarness, mock: AnthropicMock) -> openai.OpenAI:
    mock.state.requests.clear()
    return openai.OpenAI(base_url=provider_router.url + "/v1", api_key="x", max_retries=0)


HI = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize(
    ("extra", "messages", "param"),
    [
        ({"tools": [TOOL]}, HI, "tools"),
        ({"tools": [TOOL], "tool_choice": "required"}, HI, "tools"),
        ({"response_format": {"type": "json_object"}}, HI, "response_format"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {}},
                }
            },
            HI,
            "response_format",
        ),
        ({}, [{"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE]}], "messages"),
        ({"logprobs": True}, HI, "logprobs"),
        ({"n": 2}, HI, "n"),
        ({}, [{"role": "user", "content": "word " * 20_000}], "messages"),
    ],
)
def test_missing_capability_is_400_naming_param(
    client: openai.OpenAI, mock: AnthropicMock, extra: dict, messages: list, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="plain", messages=messages, **extra)
    assert err.value.status_code == 400
    assert err.value.param == param
    assert not mock.requests, "refused before any upstream call"


def test_tool_choice_none_needs_no_tool_support(client: openai.OpenAI, mock) -> None:
    r = client.chat.completions.create(model="plain", messages=HI, tools=[TOOL], tool_choice="none")
    assert r.choices[0].message.content
    assert "tools" not in mock.requests[-1].body


def test_auto_mode_only_routes_to_capable_models(client: openai.OpenAI, mock) -> None:
    r = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "call the tool"}], tools=[TOOL]
    )
    assert r.headers["x-motherfluxer-model"] == "claude"
    r = client.chat.completions.with_raw_response.create(
        model="auto", messages=HI, tools=[TOOL], tool_choice="none"
    )
    assert r.status_code == 200


def test_auto_mode_with_an_unservable_need_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="auto", messages=HI, n=3)
    assert err.value.param == "n"


def test_models_list_shows_capabilities(provider_router: RouterHarness, mock) -> None:
    data = httpx.get(provider_router.url + "/v1/models").json()["data"]
    by_id = {m["id"]: m for m in data}
    assert "tools" in by_id["claude"]["capabilities"]
    assert "json_schema" in by_id["claude"]["capabilities"]
    assert "tools" not in by_id["plain"]["capabilities"]
    assert by_id["claude"]["provider"] == "anthropic"


def test_provider_keys_never_reach_logs_errors_or_headers(
    provider_router: RouterHarness, mock: AnthropicMock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def call() -> httpx.Response:
        r = httpx.post(
            provider_router.url + "/v1/chat/completions",
            json={"model": "claude", "messages": HI},
            timeout=20,
        )
        seen.append(str(r.headers) + r.text)
        return r

    mock.push({"error": 500})
    assert call().status_code == 502
    assert call().status_code == 200
    mock.api_key = "rotated"  # the provider now refuses our key
    try:
        assert call().status_code == 502, "a refused provider key is not the caller's 401"
    finally:
        mock.api_key = KEY
    mock.push({"error": 429, "retry_after": "1"})
    limited = call()
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "upstream_rate_limited"
    assert mock.requests[0].headers["x-api-key"] == KEY, "the key did travel, to the provider"
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert KEY not in logged and KEY not in "".join(seen)


def test_request_needs_is_pure() -> None:
    assert request_needs({"tools": [TOOL], "tool_choice": "none"}) == ()
    needs = request_needs({"response_format": {"type": "json_object"}}, image_count=1)
    assert [n.capability for n in needs] == ["json_object", "vision"]
    assert missing_need({"text", "json_object"}, needs) == Need("vision", "messages", "image input")
