"""Responses API <-> chat: requests translate faithfully, answers validate as the SDK's types."""

from __future__ import annotations

import orjson
import pytest
from openai.types.responses import Response, ResponseStreamEvent

from router.ingress.errors import IngressError
from router.ingress.responses_api import ResponsesRequest, input_messages, to_chat
from router.ingress.responses_output import from_chat, history_after, response_shell
from router.ingress.responses_stream import ResponsesStream
from tests.ingress.strict import strict

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    "strict": True,
}


def _chat(content: str | None, calls: list | None = None, finish: str = "stop") -> dict:
    message = {"role": "assistant", "content": content, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def test_string_input_and_instructions_become_system_then_user() -> None:
    body = ResponsesRequest(model="m", input="Hi", instructions="Be brief", max_output_tokens=20)
    chat = to_chat(body, [])
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert chat["max_tokens"] == 20 and chat["stream"] is False


def test_items_with_images_function_calls_and_outputs() -> None:
    items = [
        {"role": "developer", "content": "rules"},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "What is this?"},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            ],
        },
        {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ]
    msgs = input_messages(items)
    assert msgs[0] == {"role": "system", "content": "rules"}
    assert msgs[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"},
    }
    assert msgs[2]["tool_calls"][0]["id"] == "call_1"
    assert msgs[3] == {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}


def test_tools_tool_choice_and_json_schema_format() -> None:
    body = ResponsesRequest(
        model="m",
        input="x",
        tools=[TOOL],
        tool_choice={"type": "function", "name": "get_weather"},
        text={"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}}},
    )
    chat = to_chat(body, [])
    assert chat["tools"][0]["function"]["name"] == "get_weather"
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert chat["response_format"]["json_schema"] == {"name": "w", "schema": {"type": "object"}}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
        ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "m", "input": []}, "input"),
    ],
)
def test_what_cannot_be_carried_is_a_400_naming_the_param(body: dict, param: str) -> None:
    with pytest.raises(IngressError) as info:
        to_chat(ResponsesRequest.model_validate(body), [])
    assert info.value.status == 400 and info.value.param == param


def test_buffered_answer_is_a_strict_response_with_usage() -> None:
    body = ResponsesRequest(model="m", input="Hi", tools=[TOOL])
    shell = response_shell(body, "resp_1", "m")
    call = {
        "id": "call_9",
        "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"},
    }
    out = from_chat(shell, _chat("Checking", [call], "tool_calls"))
    resp = strict(Response, out)
    assert resp.output_text == "Checking"
    assert resp.output[1].type == "function_call" and resp.output[1].call_id == "call_9"
    assert resp.usage is not None and resp.usage.total_tokens == 18
    assert resp.status == "completed"


def test_length_finish_is_incomplete() -> None:
    shell = response_shell(ResponsesRequest(model="m", input="Hi"), "resp_1", "m")
    resp = strict(Response, from_chat(shell, _chat("abc", finish="length")))
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"


def test_a_missing_required_field_fails_the_strict_check() -> None:
    shell = response_shell(ResponsesRequest(model="m", input="Hi"), "resp_1", "m")
    out = from_chat(shell, _chat("abc"))
    del out["output"][0]["content"][0]["annotations"]
    with pytest.raises(Exception, match="annotations"):
        strict(Response, out)


def _events(raw: list[bytes]) -> list[dict]:
    out = []
    for event in raw:
        name, data = event.decode().strip().split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        out.append(payload)
    return out


def _chunk(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def test_stream_is_the_typed_event_sequence_with_usage_last() -> None:
    body = ResponsesRequest(model="m", input="Hi", tools=[TOOL], stream=True)
    stream = ResponsesStream(response_shell(body, "resp_1", "m"))
    raw = stream.start()
    raw += stream.feed(_chunk({"role": "assistant", "content": "Hel"}))
    raw += stream.feed(_chunk({"content": "lo"}))
    head = {"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": ""}}
    raw += stream.feed(_chunk({"tool_calls": [head]}))
    raw += stream.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}))
    raw += stream.feed(_chunk({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}))
    raw += stream.feed(_chunk({}, "tool_calls"))
    raw += stream.feed({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    raw += stream.close()
    events = [strict(ResponseStreamEvent, e) for e in _events(raw)]
    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == "Hello"
    assert final.output[1].arguments == '{"a":1}'
    assert final.usage is not None and final.usage.input_tokens == 5


def test_broken_stream_ends_with_error_then_failed() -> None:
    stream = ResponsesStream(response_shell(ResponsesRequest(model="m", input="x"), "r", "m"))
    raw = stream.start() + stream.feed(_chunk({"content": "a"}))
    raw += stream.fail("the model instance stopped mid-stream", "upstream_stream_interrupted")
    events = [strict(ResponseStreamEvent, e) for e in _events(raw)]
    assert [e.type for e in events[-2:]] == ["error", "response.failed"]
    assert events[-1].response.error is not None


def test_history_carries_input_and_answer_but_not_instructions() -> None:
    body = ResponsesRequest(model="m", input="Hi", instructions="secret rules")
    shell = response_shell(body, "resp_1", "m")
    result = from_chat(shell, _chat("Hello"))
    history = history_after(input_messages(body.input), result)
    assert history == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
