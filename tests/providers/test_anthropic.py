"""Claude through the router: the unchanged `openai` SDK against a strict Anthropic mock."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import openai
import pytest
from pydantic import BaseModel

from tests.providers.conftest import external
from tests.support.mock_anthropic import AnthropicMock
from tests.support.router_harness import RouterHarness

KEY = "sk-ant-secret-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 16).decode()


class Answer(BaseModel):
    city: str
    temperature: float
    sunny: bool


@pytest.fixture(scope="module")
def mocks(
    provider_router: RouterHarness, clean_provider_env: pytest.MonkeyPatch
) -> Iterator[tuple[AnthropicMock, AnthropicMock]]:
    clean_provider_env.setenv("ANTHROPIC_API_KEY", KEY)
    first, second = AnthropicMock(KEY).start(), AnthropicMock(KEY).start()
    external(
        provider_router,
        "claude",
        "anthropic",
        first.url,
        instance_id="claude-a",
        upstream_model="claude-sonnet-4-20250514",
    )
    external(provider_router, "claude-backup", "anthropic", second.url, instance_id="claude-b")
    provider_router.refresh()
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
def client(provider_router: RouterHarness, mocks: tuple[AnthropicMock, AnthropicMock]):
    for m in mocks:
        m.state.actions.clear()
        m.state.requests.clear()
    return openai.OpenAI(base_url=provider_router.url + "/v1", api_key="x", max_retries=0)


def test_plain_completion_and_anthropic_wire_shape(client, mocks) -> None:
    r = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
            {"role": "user", "content": "are you there?"},
        ],
        stop=["zzz"],
        temperature=1.5,
    )
    assert r.choices[0].message.content.startswith("Hello from the Anthropic mock")
    assert r.choices[0].finish_reason == "stop"
    assert r.model == "claude"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    sent = mocks[0].requests[-1]
    assert sent.headers["x-api-key"] == KEY and sent.headers["anthropic-version"]
    body = sent.body
    assert body["model"] == "claude-sonnet-4-20250514"
    assert body["system"] == [{"type": "text", "text": "Be brief."}]
    assert [m["role"] for m in body["messages"]] == ["user"], "consecutive user turns merge"
    assert body["max_tokens"] > 0 and body["stop_sequences"] == ["zzz"]
    assert body["temperature"] == 1.0


def test_stream_relays_text_and_usage(client) -> None:
    chunks = list(
        client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello from the Anthropic mock. You said: stream please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_tool_call_with_parsed_arguments(client, mocks) -> None:
    r = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city", "days"}
    sent = mocks[0].requests[-1].body
    assert sent["tool_choice"] == {
        "type": "tool",
        "name": "get_weather",
        "disable_parallel_tool_use": True,
    }
    assert sent["tools"][0]["input_schema"]["required"] == ["city", "days"]


def test_parallel_tool_calls_streamed_as_argument_deltas(client) -> None:
    stream = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "weather and time, in parallel"}],
        tools=[WEATHER, TIME],
        tool_choice="required",
        stream=True,
    )
    calls: dict[int, dict[str, str]] = {}
    argument_deltas = 0
    finish = None
    for chunk in stream:
        for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            if delta.function and delta.function.name:
                entry["name"] += delta.function.name
            if delta.function and delta.function.arguments:
                entry["arguments"] += delta.function.arguments
                argument_deltas += 1
        if chunk.choices and chunk.choices[0].finish_reason:
            finish = chunk.choices[0].finish_reason
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1] and calls[0]["id"] != calls[1]["id"]
    assert argument_deltas > 2, "arguments arrive in pieces"
    assert set(json.loads(calls[0]["arguments"])) == {"city", "days"}


def test_tool_result_round_trip(client, mocks) -> None:
    first = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER],
    )
    call = first.choices[0].message.tool_calls[0]
    second = client.chat.completions.create(
        model="claude",
        messages=[
            {"role": "user", "content": "weather in Oslo?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "rainy, 4C"},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].message.content == "The tool said: rainy, 4C"
    turns = mocks[0].requests[-1].body["messages"]
    assert [t["role"] for t in turns] == ["user", "assistant", "user"]
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call.id,
        "content": "rainy, 4C",
    }


def test_parse_structured_output(client, mocks) -> None:
    r = client.chat.completions.parse(
        model="claude",
        messages=[{"role": "user", "content": "Paris today"}],
        response_format=Answer,
    )
    parsed = r.choices[0].message.parsed
    assert isinstance(parsed, Answer)
    assert r.choices[0].finish_reason == "stop"
    sent = mocks[0].requests[-1].body
    assert sent["tool_choice"] == {"type": "tool", "name": "json_answer"}


def test_streamed_structured_output_is_content(client) -> None:
    with client.chat.completions.stream(
        model="claude",
        messages=[{"role": "user", "content": "Paris today"}],
        response_format=Answer,
    ) as stream:
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Answer)


def test_images_data_url_and_https(client, mocks) -> None:
    client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is in these?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://img.example.com/a.png"}},
                ],
            }
        ],
    )
    blocks = mocks[0].requests[-1].body["messages"][0]["content"]
    assert blocks[1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG}
    assert blocks[2]["source"] == {"type": "url", "url": "https://img.example.com/a.png"}


def test_bad_image_is_400_naming_the_part(client, mocks) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="claude",
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                }
            ],
        )
    assert "messages[0].content[0]" in err.value.message
    assert not mocks[0].requests, "refused before any upstream call"


@pytest.mark.parametrize("status", [429, 529])
def test_overloaded_fails_over_and_cools_down(client, mocks, status: int) -> None:
    first, second = mocks
    second.push({"error": status, "retry_after": "1"})
    wanted = ["claude-backup", "claude"]
    r = client.chat.completions.with_raw_response.create(
        model=wanted, messages=[{"role": "user", "content": "hi"}]
    )
    assert r.headers["x-motherfluxer-model"] == "claude"
    assert len(second.requests) == 1 and len(first.requests) == 1
    # The (key, model) pair cools down for its retry-after: the next call skips it at once.
    r = client.chat.completions.with_raw_response.create(
        model=wanted, messages=[{"role": "user", "content": "again"}]
    )
    assert r.headers["x-motherfluxer-model"] == "claude"
    assert len(second.requests) == 1
    time.sleep(1.1)  # the cool-down ends; later tests find the instance in rotation again


def test_5xx_fails_over_to_the_next_candidate(client, mocks) -> None:
    mocks[0].push({"error": 503})
    r = client.chat.completions.with_raw_response.create(
        model=["claude", "claude-backup"], messages=[{"role": "user", "content": "hi"}]
    )
    assert r.status_code == 200
    assert r.headers["x-motherfluxer-model"] == "claude-backup"


def test_upstream_rate_limit_says_whose(client, mocks) -> None:
    mocks[0].push({"error": 429, "retry_after": "7"})
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "upstream_rate_limited"
    assert err.value.response.headers["retry-after"] == "7"


def test_stream_cut_midway_ends_with_an_error(client, mocks) -> None:
    mocks[1].push({"cut_after": 4})
    stream = client.chat.completions.create(
        model="claude-backup", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_malformed_event_ends_with_an_error(client, mocks) -> None:
    mocks[1].push({"malformed_after": 3})
    stream = client.chat.completions.create(
        model="claude-backup", messages=[{"role": "user", "content": "a b c d e f"}], stream=True
    )
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass


def test_malformed_first_event_fails_over(client, mocks) -> None:
    mocks[0].push({"malformed_after": 0})
    chunks = list(
        client.chat.completions.create(
            model=["claude", "claude-backup"],
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
        )
    )
    assert chunks[0].model == "claude-backup"
