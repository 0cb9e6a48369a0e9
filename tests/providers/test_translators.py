"""Pure translator checks: usage (cache tokens included), stop reasons, request mapping edges."""

from __future__ import annotations

from decimal import Decimal

import pytest

from accounts.pricing import price_request
from router.dispatch import Usage
from router.translate import anthropic, bedrock, gemini
from router.translate.common import TranslationError
from routing.catalog import ModelSpec


def test_anthropic_cache_tokens_reach_the_price() -> None:
    reply = {
        "type": "message",
        "content": [{"type": "text", "text": "hi"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 100,
            "output_tokens": 10,
            "cache_read_input_tokens": 800,
            "cache_creation_input_tokens": 100,
        },
    }
    usage = Usage.from_obj(anthropic.from_response(reply, "m")["usage"])
    assert (usage.prompt_tokens, usage.cached_tokens, usage.cache_write_tokens) == (1000, 800, 100)
    spec = ModelSpec(id="m", cost_per_1m_input=6, cost_per_1m_output=6,
                     cost_per_1m_cached_input=0.6, cost_per_1m_cache_write=7.5)  # fmt: skip
    cost = price_request(
        spec,
        usage.prompt_tokens,
        usage.completion_tokens,
        cached_in=usage.cached_tokens,
        cache_write=usage.cache_write_tokens,
    )
    assert cost == (Decimal(100 * 6 + 800 * 0.6 + 100 * 7.5 + 10 * 6) / 1_000_000).quantize(
        Decimal("0.000000001")
    )


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("end_turn", "stop"), ("max_tokens", "length"), ("stop_sequence", "stop"),
     ("refusal", "content_filter")],
)  # fmt: skip
def test_anthropic_stop_reason(reason: str, finish: str) -> None:
    reply = {"type": "message", "content": [{"type": "text", "text": "x"}], "stop_reason": reason}
    assert anthropic.from_response(reply, "m")["choices"][0]["finish_reason"] == finish


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter")],
)
def test_gemini_finish_reason_and_cached_usage(reason: str, finish: str) -> None:
    reply = {
        "candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}],
        "usageMetadata": {"promptTokenCount": 50, "candidatesTokenCount": 5,
                          "cachedContentTokenCount": 40},
    }  # fmt: skip
    out = gemini.from_response(reply, "m")
    assert out["choices"][0]["finish_reason"] == finish
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 40
    assert out["usage"]["prompt_tokens"] == 50


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("end_turn", "stop"), ("tool_use", "stop"), ("max_tokens", "length"),
     ("guardrail_intervened", "content_filter")],
)  # fmt: skip
def test_bedrock_stop_reason(reason: str, finish: str) -> None:
    reply = {"output": {"message": {"content": [{"text": "x"}]}}, "stopReason": reason,
             "usage": {"inputTokens": 3, "outputTokens": 1, "cacheReadInputTokens": 2}}  # fmt: skip
    out = bedrock.from_response(reply, "m")
    assert out["choices"][0]["finish_reason"] == finish
    assert out["usage"]["prompt_tokens"] == 5


def test_anthropic_request_rules() -> None:
    body = {
        "messages": [
            {"role": "developer", "content": "rules"},
            {"role": "assistant", "content": "I start"},
            {"role": "user", "content": "hi"},
        ],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": "none",
    }
    req = anthropic.to_request(body, "claude", stream=False)
    assert req["system"] == [{"type": "text", "text": "rules"}]
    assert [t["role"] for t in req["messages"]] == ["user", "assistant", "user"]
    assert req["max_tokens"] == 4096 and req["tool_choice"] == {"type": "none"}


def test_gemini_schema_conversion_inlines_refs() -> None:
    schema = {
        "$defs": {"Item": {"type": "object", "properties": {"n": {"type": "integer"}},
                           "additionalProperties": False}},
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                       "tag": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
        "required": ["items", "tag"],
        "additionalProperties": False,
    }  # fmt: skip
    out = gemini.gemini_schema(schema)
    assert out["properties"]["items"]["items"] == {
        "type": "OBJECT", "properties": {"n": {"type": "INTEGER"}}, "propertyOrdering": ["n"],
    }  # fmt: skip
    assert out["properties"]["tag"] == {"type": "STRING", "nullable": True}
    assert "additionalProperties" not in out and "$defs" not in out


def test_gemini_tool_message_without_a_call_names_the_param() -> None:
    body = {"messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}
    with pytest.raises(TranslationError) as err:
        gemini.to_request(body)
    assert err.value.param == "messages[0].tool_call_id"
