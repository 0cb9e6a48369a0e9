"""`POST /v1/messages` driven by the official anthropic SDK against a non-Anthropic model."""

from __future__ import annotations

import anthropic
import httpx
import pytest
from anthropic.types import Message

from tests.ingress.conftest import CHAT
from tests.ingress.strict import strict
from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import RouterHarness

CALC = {
    "name": "calc",
    "description": "Evaluates an arithmetic expression",
    "input_schema": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}


@pytest.fixture
def client(router: RouterHarness) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=router.url, api_key="anything", max_retries=0)


def test_create_is_a_strict_message(client: anthropic.Anthropic, upstream: OpenAIWireMock) -> None:
    raw = client.messages.with_raw_response.create(
        model=CHAT,
        max_tokens=40,
        system="You are terse.",
        stop_sequences=["\n\n"],
        messages=[{"role": "user", "content": "Hello"}],
    )
    strict(Message, raw.http_response.json())
    msg = raw.parse()
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello! You said: Hello"
    assert msg.stop_reason == "end_turn" and msg.usage.output_tokens > 0
    assert raw.headers["x-motherfluxer-model"] == CHAT
    sent = upstream.bodies("/v1/chat/completions")[-1]
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["stop"] == ["\n\n"] and sent["max_tokens"] == 40


def test_stream_gives_text_and_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=CHAT, max_tokens=40, messages=[{"role": "user", "content": "Stream"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "Hello! You said: Stream"
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0 and final.usage.input_tokens > 0


def test_tool_use_round_trip(client: anthropic.Anthropic, upstream: OpenAIWireMock) -> None:
    ask = [{"role": "user", "content": "What is 2+2?"}]
    first = client.messages.create(model=CHAT, max_tokens=40, tools=[CALC], messages=ask)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "calc" and use.input == {"expression": "Paris"}
    follow = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "4"}],
        },
    ]
    second = client.messages.create(model=CHAT, max_tokens=40, tools=[CALC], messages=follow)
    assert second.content[0].type == "text" and second.content[0].text == "The tool said: 4"
    sent = upstream.bodies("/v1/chat/completions")[-1]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": use.id, "content": "4"}


def test_streamed_tool_use_builds_its_input(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model=CHAT,
        max_tokens=40,
        tools=[CALC],
        tool_choice={"type": "tool", "name": "calc"},
        messages=[{"role": "user", "content": "2+2"}],
    ) as stream:
        final = stream.get_final_message()
    use = next(b for b in final.content if b.type == "tool_use")
    assert use.input == {"expression": "Paris"} and final.stop_reason == "tool_use"


def test_count_tokens(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model=CHAT, messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(
        model=CHAT, messages=[{"role": "user", "content": "hello " * 100}], tools=[CALC]
    )
    assert 0 < short.input_tokens < long.input_tokens


def test_errors_take_anthropic_shape_and_sdk_classes(
    client: anthropic.Anthropic, router: RouterHarness
) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(
            model="no-such-model", max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert missing.value.body["type"] == "error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError):
        client.messages.create(
            model=CHAT,
            max_tokens=5,
            messages=[{"role": "user", "content": "x"}],
            extra_body={"temperature": 1.5},
        )
    bare = httpx.post(router.url + "/v1/messages", json={"model": CHAT, "messages": []})
    assert bare.status_code == 400
    assert bare.json()["error"]["type"] == "invalid_request_error"


def test_raw_stream_events_are_strict_sdk_events(router: RouterHarness) -> None:
    import orjson
    from anthropic.types import RawMessageStreamEvent

    body = {
        "model": CHAT,
        "max_tokens": 20,
        "stream": True,
        "tools": [CALC],
        "messages": [{"role": "user", "content": "2+2"}],
    }
    with httpx.stream("POST", router.url + "/v1/messages", json=body, timeout=30) as raw:
        lines = list(raw.iter_lines())
    names = [line[7:] for line in lines if line.startswith("event: ")]
    datas = [orjson.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert len(names) == len(datas) and names == [d["type"] for d in datas]
    events = [strict(RawMessageStreamEvent, d) for d in datas if d["type"] != "ping"]
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert any(
        e.type == "content_block_delta" and e.delta.type == "input_json_delta" for e in events
    )


def test_openapi_documents_the_ingress_routes(router: RouterHarness) -> None:
    doc = httpx.get(router.url + "/openapi.json").json()
    for path, method in [
        ("/v1/messages", "post"),
        ("/v1/messages/count_tokens", "post"),
        ("/v1/responses", "post"),
        ("/v1/responses/{response_id}", "get"),
        ("/v1/responses/{response_id}", "delete"),
        ("/v1/embeddings", "post"),
        ("/v1/models/{model_id}", "get"),
    ]:
        assert method in doc["paths"][path], (path, method)
    schema = doc["paths"]["/v1/messages"]["post"]["requestBody"]["content"]["application/json"]
    # The body is a reference to a schema the document defines.
    name = schema["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"model", "max_tokens", "messages"} <= set(
        doc["components"]["schemas"][name]["required"]
    )
