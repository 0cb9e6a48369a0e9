"""The strict Anthropic mock is itself checked with the official `anthropic` SDK."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from tests.support.mock_anthropic import AnthropicMock

KEY = "sk-ant-fidelity"
TOOL = {
    "name": "lookup",
    "description": "look something up",
    "input_schema": {
        "type": "object",
        "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["query"],
    },
}


@pytest.fixture(scope="module")
def mock() -> Iterator[AnthropicMock]:
    with AnthropicMock(KEY) as server:
        yield server


@pytest.fixture
def sdk(mock: AnthropicMock) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=mock.url, api_key=KEY, max_retries=0)


def test_sdk_parses_a_message(sdk: anthropic.Anthropic) -> None:
    msg = sdk.messages.create(
        model="claude-test",
        max_tokens=64,
        system="terse",
        messages=[{"role": "user", "content": "hi"}],
    )
    assert msg.content[0].type == "text" and msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0 and msg.usage.cache_read_input_tokens == 0


def test_sdk_accumulates_the_documented_stream(sdk: anthropic.Anthropic) -> None:
    seen = []
    with sdk.messages.stream(
        model="claude-test",
        max_tokens=64,
        tools=[TOOL],
        tool_choice={"type": "any"},
        messages=[{"role": "user", "content": "find it"}],
    ) as stream:
        for event in stream:
            seen.append(event.type)
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "tool_use" and final.content[0].input["query"] == "example"
    for kind in (
        "message_start",
        "content_block_start",
        "input_json",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ):
        assert kind in seen


def test_sdk_sees_retry_after_on_429_and_529(mock: AnthropicMock, sdk) -> None:
    mock.push({"error": 429, "retry_after": "4"}, {"error": 529, "retry_after": "2"})
    with pytest.raises(anthropic.RateLimitError) as limited:
        sdk.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert limited.value.response.headers["retry-after"] == "4"
    with pytest.raises(anthropic.APIStatusError) as overloaded:
        sdk.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "x"}])
    assert overloaded.value.status_code == 529


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "x"}],
            },
            "system",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            },
            "alternate",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [{"role": "user", "content": "a"}],
                "response_format": {"type": "json_object"},
            },
            "response_format",
        ),
        (
            {
                "model": "m",
                "max_tokens": 8,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}],
                    }
                ],
            },
            "tool_use",
        ),
    ],
)
def test_mock_rejects_what_the_api_rejects(mock: AnthropicMock, body: dict, complaint: str) -> None:
    r = httpx.post(
        mock.url + "/v1/messages",
        json=body,
        headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
    )
    assert r.status_code == 400
    assert r.json()["type"] == "error" and complaint in r.json()["error"]["message"]


def test_mock_requires_a_key_and_a_version(mock: AnthropicMock) -> None:
    body = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
    assert httpx.post(mock.url + "/v1/messages", json=body).status_code == 401
    r = httpx.post(mock.url + "/v1/messages", json=body, headers={"x-api-key": KEY})
    assert r.status_code == 400
