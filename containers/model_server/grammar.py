"""Turn `response_format` and `tools`/`tool_choice` into one llguidance Lark grammar.

Built here, in the server process, as plain text; the backend compiles it against its own
tokenizer (and reports a grammar it cannot compile as a 400). Tool calls use the Hermes
format that Qwen and Hermes chat templates already speak:

    <tool_call>
    {"name": "get_weather", "arguments": {...}}
    </tool_call>
"""

from __future__ import annotations

import copy
import json
from typing import Any

from model_server.errors import ApiError
from model_server.protocol import Constraint
from model_server.tool_calls import CALL_SEPARATOR, TOOL_CLOSE, TOOL_OPEN

MAX_SCHEMA_DEPTH = 32
MAX_TOOLS = 128

# Compact but natural separators, and no free whitespace: a weak model must not be able to
# spend its whole budget on blanks between tokens.
JSON_OPTIONS = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
ANY_OBJECT: dict[str, Any] = {"type": "object"}
NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _prepared(schema: Any, param: str) -> dict[str, Any]:
    if not isinstance(schema, dict):
        raise ApiError(400, f"{param} must be a JSON Schema object", "invalid_schema", param=param)
    if _depth(schema) > MAX_SCHEMA_DEPTH:
        raise ApiError(
            400,
            f"{param} is too complex: nested deeper than {MAX_SCHEMA_DEPTH} levels",
            "schema_too_complex",
            param=param,
        )
    prepared = copy.deepcopy(schema)
    options = dict(JSON_OPTIONS)
    options.update(prepared.get("x-guidance") or {})
    prepared["x-guidance"] = options
    return prepared


def _json_rule(schema: dict[str, Any]) -> str:
    return "%json " + json.dumps(schema, separators=(",", ":"))


def _literal(text: str) -> str:
    # A JSON string literal is also a valid Lark string literal.
    return json.dumps(text)


def build_constraint(
    response_format: dict[str, Any] | None,
    tools: list[dict[str, Any]] | None,
    tool_choice: str | dict[str, Any] | None,
    parallel_tool_calls: bool,
) -> Constraint | None:
    """The one grammar a chat request's answer must follow, or None for free text."""
    json_rule = response_format_rule(response_format)
    if tools and tool_choice != "none":
        return tools_constraint(tools, tool_choice, parallel_tool_calls, json_rule)
    if json_rule is None:
        return None
    return Constraint(grammar="start: " + json_rule, param="response_format")


def allows_text(tool_choice: str | dict[str, Any] | None) -> bool:
    return tool_choice is None or tool_choice == "auto"


def response_format_rule(response_format: dict[str, Any] | None) -> str | None:
    if not response_format:
        return None
    kind = response_format.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        schema = _prepared(ANY_OBJECT, "response_format")
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise ApiError(
                400,
                "response_format.json_schema must be an object with a schema",
                "invalid_schema",
                param="response_format",
            )
        schema = _prepared(spec.get("schema", ANY_OBJECT), "response_format")
    else:
        raise ApiError(
            400,
            f"response_format type {kind!r} is not supported (text, json_object, json_schema)",
            "invalid_parameters",
            param="response_format",
        )
    return _json_rule(schema)


def _chosen_tools(
    tools: list[dict[str, Any]], tool_choice: str | dict[str, Any] | None
) -> tuple[list[dict[str, Any]], bool]:
    """The tools the answer may call, and whether plain text is allowed instead."""
    if tool_choice is None or tool_choice == "auto":
        return tools, True
    if tool_choice == "required":
        return tools, False
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        named = [t for t in tools if t["function"]["name"] == name]
        if not named:
            raise ApiError(
                400,
                f"tool_choice names function {name!r}, which is not in tools",
                "invalid_parameters",
                param="tool_choice",
            )
        return named, False
    raise ApiError(
        400,
        "tool_choice must be none, auto, required or a named function",
        "invalid_parameters",
        param="tool_choice",
    )


def tools_constraint(
    tools: list[dict[str, Any]] | None,
    tool_choice: str | dict[str, Any] | None,
    parallel_tool_calls: bool,
    text_rule: str | None = None,
) -> Constraint:
    if len(tools) > MAX_TOOLS:
        raise ApiError(
            400, f"at most {MAX_TOOLS} tools are allowed", "invalid_parameters", param="tools"
        )
    chosen, text_allowed = _chosen_tools(tools, tool_choice)
    rules = []
    alternatives = []
    for i, tool in enumerate(chosen):
        fn = tool["function"]
        params = _prepared(fn.get("parameters") or NO_ARGUMENTS, "tools")
        head = _literal(f'{{"name": "{fn["name"]}", "arguments": ')
        rules.append(f'fn_{i}: {head} {_json_rule(params)} "}}"')
        alternatives.append(f"fn_{i}")
    if not text_allowed:
        lines = ["start: calls"]
    elif text_rule is not None:
        # "auto" with a response_format: the answer is a call or JSON of that format.
        lines = [f"start: calls | {text_rule}"]
    else:
        lines = ["start: calls | TEXT"]
    if parallel_tool_calls:
        lines.append(f"calls: call ({_literal(CALL_SEPARATOR)} call)*")
    else:
        lines.append("calls: call")
    lines.append(f"call: {_literal(TOOL_OPEN)} ({' | '.join(alternatives)}) {_literal(TOOL_CLOSE)}")
    lines.extend(rules)
    if text_allowed and text_rule is None:
        # "auto": the model's first token decides; text is anything not opening a tool call.
        lines.append(r"TEXT: /[^<][\s\S]*/")
    return Constraint(grammar="\n".join(lines), param="tools")
