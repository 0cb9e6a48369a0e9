"""Anthropic Messages <-> chat: requests translate faithfully, answers validate as SDK types."""

from __future__ import annotations

import orjson
import pytest
from anthropic.types import Message, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse

from router.ingress.errors import IngressError, anthropic_error
from router.ingress.messages_api import MessagesRequest, from_chat, to_chat
from router.ingress.messages_stream import MessagesStream
from tests.ingress.strict import strict


def test_system_blocks_images_tool_use_and_tool_result() -> None:
    body = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 50,
            "system": [{"type": "text", "text": "Be terse."}],
            "stop_sequences": ["END"],
            "metadata": {"user_id": "u1"},
            "tools": [{"name": "calc", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Look"},
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/jpeg",
                                "data": "QQ==",
                            },
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [
                        {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"x": 1}}
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"},
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
        }
    )
    chat = to_chat(body)
    msgs = chat["messages"]
    assert msgs[0] == {"role": "system", "content": "Be terse."}
    assert msgs[1]["content"][1]["image_url"]["url"] == "data:image/jpeg;base64,QQ=="
    assert msgs[2]["tool_calls"][0]["function"] == {"name": "calc", "arguments": '{"x":1}'}
    assert msgs[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "2"}
    assert msgs[4] == {"role": "user", "content": "thanks"}
    assert chat["stop"] == ["END"] and chat["user"] == "u1"
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False


def test_unsupported_block_is_an_invalid_request() -> None:
    body = MessagesRequest.model_validate(
        {
            "model": "m",
            "max_tokens": 5,
            "messages": [{"role": "user", "content": [{"type": "document"}]}],
        }
    )
    with pytest.raises(IngressError) as info:
        to_chat(body)
    assert info.value.status == 400


def test_buffered_answer_is_a_strict_message() -> None:
    chat = {
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "calc", "arguments": '{"x":2}'},
                        }
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    }
    msg = strict(Message, from_chat(chat, "m"))
    assert msg.stop_reason == "tool_use"
    assert msg.content[0].type == "text" and msg.content[1].type == "tool_use"
    assert msg.content[1].input == {"x": 2}
    assert msg.usage.input_tokens == 9 and msg.usage.output_tokens == 4


def _events(raw: list[bytes]) -> list[dict]:
    out = []
    for event in raw:
        name, data = event.decode().strip().split("\n")
        payload = orjson.loads(data.removeprefix("data: "))
        assert name == f"event: {payload['type']}"
        out.append(payload)
    return out


def test_stream_is_the_anthropic_event_sequence() -> None:
    stream = MessagesStream("m")
    raw = stream.start()
    raw += stream.feed({"choices": [{"delta": {"content": "Hi "}}]})
    raw += stream.feed({"choices": [{"delta": {"content": "there"}}]})
    head = {"index": 0, "id": "call_1", "function": {"name": "calc", "arguments": ""}}
    raw += stream.feed({"choices": [{"delta": {"tool_calls": [head]}}]})
    raw += stream.feed(
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"x":'}}]}}]}
    )
    raw += stream.feed(
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "3}"}}]}}]}
    )
    raw += stream.feed({"choices": [{"delta": {}, "finish_reason": "tool_calls"}]})
    raw += stream.feed({"choices": [], "usage": {"prompt_tokens": 6, "completion_tokens": 2}})
    raw += stream.close()
    payloads = [e for e in _events(raw) if e["type"] != "ping"]
    events = [strict(RawMessageStreamEvent, e) for e in payloads]
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[6].delta.type == "input_json_delta"
    assert events[9].delta.stop_reason == "tool_use"
    assert events[9].usage.output_tokens == 2 and events[9].usage.input_tokens == 6


@pytest.mark.parametrize(
    ("status", "anthropic_status", "kind"),
    [
        (400, 400, "invalid_request_error"),
        (422, 400, "invalid_request_error"),
        (401, 401, "authentication_error"),
        (403, 403, "permission_error"),
        (404, 404, "not_found_error"),
        (429, 429, "rate_limit_error"),
        (502, 500, "api_error"),
        (503, 529, "overloaded_error"),
        (504, 504, "timeout_error"),
    ],
)
def test_error_shape_and_status(status: int, anthropic_status: int, kind: str) -> None:
    mapped, body = anthropic_error(status, "nope")
    err = strict(ErrorResponse, body)
    assert mapped == anthropic_status and err.error.type == kind
