"""`POST /v1/responses` driven by the official openai SDK (sync and async) and LangChain."""

from __future__ import annotations

import asyncio

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import BaseModel

from tests.ingress.conftest import CHAT
from tests.ingress.strict import strict
from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import RouterHarness

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def client(router: RouterHarness) -> openai.OpenAI:
    return openai.OpenAI(base_url=router.url + "/v1", api_key="anything", max_retries=0)


def test_plain_create_is_a_strict_response(client: openai.OpenAI, router: RouterHarness) -> None:
    raw = client.responses.with_raw_response.create(
        model=CHAT, input="Hi there", instructions="Be kind", max_output_tokens=30
    )
    strict(Response, raw.http_response.json())
    resp = raw.parse()
    assert resp.output_text == "Hello! You said: Hi there"
    assert resp.id.startswith("resp_") and resp.status == "completed"
    assert resp.usage is not None and resp.usage.output_tokens > 0
    assert raw.headers["x-motherfluxer-model"] == CHAT


def test_each_call_gets_a_fresh_id(client: openai.OpenAI) -> None:
    ids = {client.responses.create(model=CHAT, input="same").id for _ in range(2)}
    assert len(ids) == 2


def test_instructions_and_limits_reach_the_model(
    client: openai.OpenAI, upstream: OpenAIWireMock
) -> None:
    client.responses.create(
        model=CHAT, input="Hi", instructions="Only French", max_output_tokens=17, temperature=0.2
    )
    sent = upstream.bodies("/v1/chat/completions")[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Only French"}
    assert sent["max_tokens"] == 17 and sent["temperature"] == 0.2


def test_streamed_create_yields_typed_events_and_usage(client: openai.OpenAI) -> None:
    with client.responses.with_streaming_response.create(
        model=CHAT, input="Stream me", stream=True
    ) as raw:
        lines = [line for line in raw.iter_lines() if line.startswith("data: ")]
    import orjson

    events = [strict(ResponseStreamEvent, orjson.loads(line[6:])) for line in lines]
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert "response.output_text.delta" in kinds and kinds[-1] == "response.completed"
    final = events[-1].response
    assert final.output_text == "Hello! You said: Stream me"
    assert final.usage is not None and final.usage.input_tokens > 0

    stream = client.responses.create(model=CHAT, input="Again", stream=True)
    text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
    assert text == "Hello! You said: Again"


def test_function_tool_call_is_a_function_call_item(client: openai.OpenAI) -> None:
    resp = client.responses.create(model=CHAT, input="Weather in Paris?", tools=[WEATHER])
    calls = [item for item in resp.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert calls[0].arguments == '{"city": "Paris"}'


def test_streamed_function_call_arguments(client: openai.OpenAI) -> None:
    with client.responses.stream(model=CHAT, input="Weather?", tools=[WEATHER]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == '{"city": "Paris"}'
    assert final.output[0].type == "function_call"


class City(BaseModel):
    name: str
    population: int


def test_parse_with_a_json_schema(client: openai.OpenAI, upstream: OpenAIWireMock) -> None:
    resp = client.responses.parse(model=CHAT, input="Largest city?", text_format=City)
    assert resp.output_parsed == City(name="Paris", population=3)
    sent = upstream.bodies("/v1/chat/completions")[-1]
    assert sent["response_format"]["type"] == "json_schema"


def test_async_create_and_stream(router: RouterHarness) -> None:
    async def run() -> tuple[str, str]:
        client = openai.AsyncOpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
        plain = await client.responses.create(model=CHAT, input="async")
        pieces = []
        async for event in await client.responses.create(model=CHAT, input="astream", stream=True):
            if event.type == "response.output_text.delta":
                pieces.append(event.delta)
        await client.close()
        return plain.output_text, "".join(pieces)

    plain, streamed = asyncio.run(run())
    assert plain == "Hello! You said: async"
    assert streamed == "Hello! You said: astream"


def test_image_input_reaches_the_model_as_an_image_part(
    client: openai.OpenAI, upstream: OpenAIWireMock
) -> None:
    client.responses.create(
        model=CHAT,
        input=[
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is it?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo="},
                ],
            }
        ],
    )
    parts = upstream.bodies("/v1/chat/completions")[-1]["messages"][-1]["content"]
    assert parts[1]["type"] == "image_url"


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"temperature": 5}, "temperature"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
    ],
)
def test_invalid_parameters_are_bad_request_naming_the_param(
    client: openai.OpenAI, kwargs: dict, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model=CHAT, input="x", **kwargs)
    assert info.value.status_code == 400
    assert info.value.body["param"] == param  # type: ignore[index]


def test_errors_carry_param_and_the_sdk_class(router: RouterHarness) -> None:
    client = openai.OpenAI(base_url=router.url + "/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.responses.create(model="no-such-model", input="x")
    assert "param" in info.value.body  # type: ignore[operator]
    missing = httpx.post(router.url + "/v1/responses", json={"input": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["param"] == "model"
    # Without an accounts database there is nowhere to keep a response.
    with pytest.raises(openai.BadRequestError) as stored:
        client.responses.create(model=CHAT, input="x", store=True)
    assert stored.value.body["param"] == "store"  # type: ignore[index]


def test_langchain_responses_api_with_bound_tools(router: RouterHarness) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(
        model=CHAT, base_url=router.url + "/v1", api_key="x", use_responses_api=True, max_retries=0
    )
    plain = llm.invoke("Hi")
    assert "Hello! You said: Hi" in plain.text
    ai = llm.bind_tools([WEATHER]).invoke("Weather in Paris?")
    assert ai.tool_calls and ai.tool_calls[0]["name"] == "get_weather"
    assert ai.tool_calls[0]["args"] == {"city": "Paris"}
