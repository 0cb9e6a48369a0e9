"""Structured output and tool calls through the real HTTP API with the tiny noise model:
its words are noise, but the grammar makes its structure valid."""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
import pytest
import requests
from pydantic import BaseModel

from tests.model_server.harness import ModelServer, parse_stream

pytestmark = pytest.mark.slow  # starts real model-server processes

ASK = [{"role": "user", "content": "Tell me about a person and the weather."}]


class Address(BaseModel):
    street: str
    number: int


class Person(BaseModel):
    name: str
    age: int
    member: bool
    kind: Literal["cat", "dog", "fish"]
    tags: list[str]
    home: Address


class Weather(BaseModel):
    city: str
    unit: Literal["c", "f"]


class Add(BaseModel):
    a: int
    b: int


def tool(name: str, model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": model.model_json_schema()},
    }


TOOLS = [tool("get_weather", Weather), tool("add", Add)]
VALIDATORS: dict[str, type[BaseModel]] = {"get_weather": Weather, "add": Add}


def client(server: ModelServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)


def assert_valid_calls(calls: list[Any]) -> None:
    assert calls, "expected tool calls"
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_")
        VALIDATORS[call.function.name].model_validate_json(call.function.arguments)


@pytest.mark.parametrize(("seed", "temperature"), [(1, 1.0), (2, 1.3), (3, 0.0), (4, 0.7)])
def test_parse_returns_a_valid_pydantic_object(
    tiny_server: ModelServer, seed: int, temperature: float
) -> None:
    reply = client(tiny_server).chat.completions.parse(
        model="tiny-demo",
        messages=ASK,
        response_format=Person,
        max_tokens=200,
        seed=seed,
        temperature=temperature,
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message.parsed, Person)
    assert Person.model_validate_json(choice.message.content or "") == choice.message.parsed
    assert reply.usage is not None and reply.usage.completion_tokens <= 200


def test_json_object_is_a_json_object(tiny_server: ModelServer) -> None:
    for seed in range(3):
        reply = client(tiny_server).chat.completions.create(
            model="tiny-demo",
            messages=ASK,
            response_format={"type": "json_object"},
            max_tokens=64,
            seed=seed,
        )
        assert reply.choices[0].finish_reason == "stop"
        assert isinstance(json.loads(reply.choices[0].message.content or ""), dict)


def test_streamed_json_schema_matches_buffered(tiny_server: ModelServer) -> None:
    body = {
        "messages": ASK,
        "max_tokens": 120,
        "seed": 9,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": Weather.model_json_schema()},
        },
    }
    buffered = tiny_server.post("/v1/chat/completions", body).json()
    with requests.post(
        tiny_server.url + "/v1/chat/completions", json={**body, "stream": True}, stream=True
    ) as r:
        chunks, done = parse_stream(r)
    assert done
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == buffered["choices"][0]["message"]["content"]
    Weather.model_validate_json(streamed)


@pytest.mark.parametrize(
    "tool_choice",
    ["required", {"type": "function", "function": {"name": "add"}}],
)
def test_forced_tool_calls_validate(tiny_server: ModelServer, tool_choice: Any) -> None:
    for seed in range(3):
        reply = client(tiny_server).chat.completions.create(
            model="tiny-demo",
            messages=ASK,
            tools=TOOLS,
            tool_choice=tool_choice,
            max_tokens=200,
            seed=seed,
        )
        choice = reply.choices[0]
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        assert_valid_calls(choice.message.tool_calls or [])
        if isinstance(tool_choice, dict):
            assert {c.function.name for c in choice.message.tool_calls or []} == {"add"}


def test_parallel_tool_calls_false_gives_exactly_one_call(tiny_server: ModelServer) -> None:
    for seed in range(3):
        reply = client(tiny_server).chat.completions.create(
            model="tiny-demo",
            messages=ASK,
            tools=TOOLS,
            tool_choice="required",
            parallel_tool_calls=False,
            max_tokens=200,
            seed=seed,
        )
        calls = reply.choices[0].message.tool_calls or []
        assert len(calls) == 1
        assert_valid_calls(calls)


def test_auto_answers_text_or_valid_calls(tiny_server: ModelServer) -> None:
    kinds = set()
    for seed in range(8):
        reply = client(tiny_server).chat.completions.create(
            model="tiny-demo", messages=ASK, tools=TOOLS, max_tokens=200, seed=seed
        )
        choice = reply.choices[0]
        if choice.message.tool_calls:
            assert choice.finish_reason == "tool_calls"
            assert_valid_calls(choice.message.tool_calls)
            kinds.add("tools")
        else:
            assert isinstance(choice.message.content, str)
            assert not choice.message.content.startswith("<tool_call>")
            kinds.add("text")
    assert kinds


def test_tool_choice_none_is_plain_text(tiny_server: ModelServer) -> None:
    reply = client(tiny_server).chat.completions.create(
        model="tiny-demo", messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=12, seed=1
    )
    assert reply.choices[0].message.tool_calls is None
    assert reply.choices[0].finish_reason in ("stop", "length")


def test_streamed_tool_calls_match_buffered(tiny_server: ModelServer) -> None:
    args = {
        "model": "tiny-demo",
        "messages": ASK,
        "tools": TOOLS,
        "tool_choice": "required",
        "max_tokens": 200,
        "seed": 5,
        "temperature": 1.0,
    }
    buffered = client(tiny_server).chat.completions.create(**args).choices[0]
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    ids: dict[int, str] = {}
    finish = None
    for chunk in client(tiny_server).chat.completions.create(**args, stream=True):
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        for call in delta.tool_calls or []:
            if call.id:
                ids[call.index] = call.id
                names[call.index] = call.function.name
            arguments[call.index] = arguments.get(call.index, "") + (call.function.arguments or "")
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    expected = buffered.message.tool_calls or []
    assert [names[i] for i in sorted(names)] == [c.function.name for c in expected]
    assert [arguments[i] for i in sorted(arguments)] == [c.function.arguments for c in expected]
    for i, name in names.items():
        VALIDATORS[name].model_validate_json(arguments[i])
        assert ids[i].startswith("call_")


def test_tool_result_round_trip(tiny_server: ModelServer) -> None:
    first = client(tiny_server).chat.completions.create(
        model="tiny-demo", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=200
    )
    message = first.choices[0].message
    call = (message.tool_calls or [])[0]
    follow = client(tiny_server).chat.completions.create(
        model="tiny-demo",
        messages=[
            *ASK,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'},
        ],
        tools=TOOLS,
        tool_choice="none",
        max_tokens=8,
    )
    assert isinstance(follow.choices[0].message.content, str)


def _deep(levels: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(levels):
        schema = {"type": "object", "properties": {"x": schema}, "required": ["x"]}
    return schema


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("schema", "code"),
    [
        (_deep(40), "schema_too_complex"),
        ({"not": {"type": "string"}}, "invalid_schema"),
        ({"$ref": "http://example.com/remote.json"}, "invalid_schema"),
    ],
)
def test_schemas_the_grammar_cannot_take_get_a_clear_400(
    tiny_server: ModelServer, schema: dict[str, Any], code: str, stream: bool
) -> None:
    body = {
        "messages": ASK,
        "stream": stream,
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
    }
    r = tiny_server.post("/v1/chat/completions", body)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == code
    assert error["param"] == "response_format"
    with pytest.raises(openai.BadRequestError):
        client(tiny_server).chat.completions.create(
            model="tiny-demo",
            messages=ASK,
            response_format=body["response_format"],  # type: ignore[arg-type]
        )


def test_unknown_named_tool_is_a_400(tiny_server: ModelServer) -> None:
    r = tiny_server.post(
        "/v1/chat/completions",
        {
            "messages": ASK,
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "nope"}},
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["param"] == "tool_choice"


def test_validation_errors_name_the_param(tiny_server: ModelServer) -> None:
    r = tiny_server.post("/v1/chat/completions", {"messages": ASK, "temperature": 5})
    assert r.json()["error"]["param"] == "temperature"
    r = tiny_server.post("/v1/chat/completions", {"messages": ASK, "tools": [{"type": "x"}]})
    assert r.json()["error"]["param"] == "tools"
