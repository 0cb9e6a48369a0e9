"""The Hermes tool-call text the grammar makes, read back buffered and streamed."""

from __future__ import annotations

import json

import pytest

from model_server.chat_tools import buffered_tool_answer
from model_server.errors import ApiError
from model_server.grammar import build_constraint
from model_server.tool_calls import ToolCallDeltas, parse_calls, render_calls

CALLS = [
    {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": '{"x": 1}'}},
    {"id": "call_2", "type": "function", "function": {"name": "b-2", "arguments": "{}"}},
]


def test_rendered_calls_parse_back() -> None:
    parsed = parse_calls(render_calls(CALLS))
    assert [c["function"] for c in parsed] == [c["function"] for c in CALLS]
    assert all(c["id"].startswith("call_") for c in parsed)


@pytest.mark.parametrize("piece", [1, 3, 7, 1000])
def test_streamed_deltas_rebuild_the_calls_whatever_the_piece_size(piece: int) -> None:
    text = render_calls(CALLS)
    stream = ToolCallDeltas()
    deltas = []
    for i in range(0, len(text), piece):
        deltas += stream.feed(text[i : i + piece])
    deltas += stream.flush()
    names = [d["function"]["name"] for d in deltas if "id" in d]
    args = ["", ""]
    for d in deltas:
        args[d["index"]] += d["function"]["arguments"]
    assert names == ["a", "b-2"]
    assert args == ['{"x": 1}', "{}"]
    assert "</tool_call>" not in "".join(args)


def test_a_call_cut_by_max_tokens_is_not_reported_complete() -> None:
    text = render_calls(CALLS)[:-5]
    calls, finish = buffered_tool_answer(text, "length")
    assert [c["function"]["name"] for c in calls] == ["a"]
    assert finish == "length"
    calls, finish = buffered_tool_answer(render_calls(CALLS), "stop")
    assert finish == "tool_calls" and len(calls) == 2
    assert buffered_tool_answer("plain words", "stop") == ([], "stop")


def test_grammar_shapes() -> None:
    tools = [{"type": "function", "function": {"name": "a", "parameters": {"type": "object"}}}]
    auto = build_constraint(None, tools, "auto", True)
    assert auto is not None and "TEXT" in auto.grammar and "call (" in auto.grammar
    single = build_constraint(None, tools, "required", False)
    assert single is not None and "TEXT" not in single.grammar
    assert "calls: call\n" in single.grammar
    assert build_constraint(None, tools, "none", True) is None
    assert build_constraint({"type": "text"}, None, None, True) is None
    fmt = build_constraint({"type": "json_object"}, None, None, True)
    assert fmt is not None and fmt.param == "response_format"
    options = json.loads(fmt.grammar.split("%json ", 1)[1])["x-guidance"]
    assert options["whitespace_flexible"] is False
    with pytest.raises(ApiError) as err:
        build_constraint(None, tools, {"type": "function", "function": {"name": "zz"}}, True)
    assert err.value.param == "tool_choice"
