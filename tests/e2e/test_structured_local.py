"""Structure from the tiny demo models through the whole stack, with the unchanged openai SDK.

The tiny models' words are noise; their structure is not: the model server decodes under a
grammar, so a parsed object and tool arguments validate against what the caller asked for.
tiny-chat is configured without tools, so a tools request to it is refused before any call.
"""

from __future__ import annotations

import base64
import json
import struct

import openai
import pytest
from pydantic import BaseModel

from devstack.stack import EmbeddedStack


class Weather(BaseModel):
    city: str
    celsius: int


class Lookup(BaseModel):
    query: str
    limit: int


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Search the docs",
            "parameters": Lookup.model_json_schema(),
        },
    }
]


@pytest.fixture
def client(stack: EmbeddedStack) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=stack.api_key, max_retries=0)


def test_parse_returns_a_valid_object_from_a_tiny_model(client: openai.OpenAI) -> None:
    done = client.chat.completions.parse(
        model="tiny-chat",
        messages=[{"role": "user", "content": "Weather in Lisbon?"}],
        response_format=Weather,
        max_tokens=200,
    )
    parsed = done.choices[0].message.parsed
    assert isinstance(parsed, Weather)


def test_tools_answer_with_arguments_that_validate(client: openai.OpenAI) -> None:
    done = client.chat.completions.create(
        model="tiny-coder",
        messages=[{"role": "user", "content": "Find the retry docs"}],
        tools=TOOLS,
        tool_choice="required",
        max_tokens=200,
    )
    choice = done.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "lookup"
    Lookup.model_validate(json.loads(call.function.arguments))


def test_tools_to_a_model_without_tool_support_are_a_400_naming_tools(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(
            model="tiny-chat",
            messages=[{"role": "user", "content": "Find the retry docs"}],
            tools=TOOLS,
            max_tokens=8,
        )
    assert err.value.body["param"] == "tools"


def test_embeddings_float_and_base64_agree(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="tiny-chat", input=["hello world"])
    vector = floats.data[0].embedding
    assert len(vector) > 0 and abs(sum(v * v for v in vector) - 1) < 1e-3
    raw = client.embeddings.with_raw_response.create(
        model="tiny-chat", input="hello world", encoding_format="base64"
    )
    packed = base64.b64decode(json.loads(raw.text)["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert max(abs(a - b) for a, b in zip(decoded, vector, strict=True)) < 1e-5
