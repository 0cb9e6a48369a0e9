"""Tool calls in the Hermes text format: what the grammar makes the model write, read back
into OpenAI `tool_calls`, buffered or as streamed deltas."""

from __future__ import annotations

import json
import uuid
from typing import Any

TOOL_OPEN = "<tool_call>\n"
TOOL_CLOSE = "\n</tool_call>"
CALL_SEPARATOR = "\n"
_HEAD = '{"name": "'
_ARGS = '", "arguments": '
_TAIL = "}" + TOOL_CLOSE


def call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def tools_prompt(tools: list[dict[str, Any]], text_allowed: bool) -> str:
    """System text for chat templates that do not render tools themselves."""
    listed = "\n".join(json.dumps(t["function"], separators=(",", ":")) for t in tools)
    how = "You may answer in plain text, or call" if text_allowed else "You must call"
    return (
        f"{how} one or more of these functions:\n{listed}\n"
        f'Write each call as {TOOL_OPEN}{{"name": <name>, "arguments": <object>}}{TOOL_CLOSE}'
    )


def render_calls(tool_calls: list[dict[str, Any]]) -> str:
    """An assistant message's earlier tool calls, as the text the model would have written."""
    parts = []
    for call in tool_calls:
        fn = call.get("function") or {}
        raw = fn.get("arguments") or "{}"
        parts.append(f"{TOOL_OPEN}{_HEAD}{fn.get('name', '')}{_ARGS}{raw}{_TAIL}")
    return CALL_SEPARATOR.join(parts)


def is_tool_text(text: str) -> bool:
    return text.startswith("<")


def parse_calls(text: str) -> list[dict[str, Any]]:
    """Complete calls in grammar-made text, as OpenAI tool_calls (arguments as JSON text)."""
    calls = []
    for name, arguments in _split(text):
        if arguments is not None:
            calls.append(
                {
                    "id": call_id(),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }
            )
    return calls


def _split(text: str) -> list[tuple[str, str | None]]:
    """(name, arguments) per call; arguments None while a call is still incomplete."""
    out: list[tuple[str, str | None]] = []
    rest = text
    while rest.startswith(TOOL_OPEN + _HEAD):
        rest = rest[len(TOOL_OPEN + _HEAD) :]
        name, sep, rest = rest.partition(_ARGS)
        if not sep:
            break
        end = rest.find(_TAIL)
        if end < 0:
            out.append((name, None))
            break
        out.append((name, rest[:end]))
        rest = rest[end + len(_TAIL) :]
        if rest.startswith(CALL_SEPARATOR):
            rest = rest[len(CALL_SEPARATOR) :]
    return out


def _without_partial_tail(text: str) -> str:
    for size in range(min(len(text), len(_TAIL)), 0, -1):
        if _TAIL.startswith(text[-size:]):
            return text[:-size]
    return text


class ToolCallDeltas:
    """Turns text pieces of a tool-call answer into OpenAI `tool_calls` deltas.

    A call's id and name go out as soon as the name is complete, then its arguments in
    pieces; the last few characters are held back until it is clear they are not the
    closing `}</tool_call>`.
    """

    def __init__(self) -> None:
        self.text = ""
        self.started: list[str] = []
        self.sent_args: list[int] = []

    def feed(self, piece: str) -> list[dict[str, Any]]:
        self.text += piece
        return self._deltas(final=False)

    def flush(self) -> list[dict[str, Any]]:
        return self._deltas(final=True)

    @property
    def count(self) -> int:
        return len(self.started)

    def _deltas(self, final: bool) -> list[dict[str, Any]]:
        deltas: list[dict[str, Any]] = []
        rest = self.text
        index = 0
        while rest.startswith(TOOL_OPEN + _HEAD):
            body = rest[len(TOOL_OPEN + _HEAD) :]
            name, sep, args_and_more = body.partition(_ARGS)
            if not sep:
                break
            if index == len(self.started):
                self.started.append(call_id())
                self.sent_args.append(0)
                deltas.append(
                    {
                        "index": index,
                        "id": self.started[index],
                        "type": "function",
                        "function": {"name": name, "arguments": ""},
                    }
                )
            end = args_and_more.find(_TAIL)
            if end >= 0:
                args, complete = args_and_more[:end], True
            elif final:
                # Cut short (max_tokens): drop any beginning of the closing tail.
                args, complete = _without_partial_tail(args_and_more), True
            else:
                # Hold back what could be the start of the closing tail.
                args, complete = args_and_more[: max(0, len(args_and_more) - len(_TAIL))], False
            fresh = args[self.sent_args[index] :]
            if fresh:
                deltas.append({"index": index, "function": {"arguments": fresh}})
                self.sent_args[index] = len(args)
            if not complete or end < 0:
                break
            rest = args_and_more[end + len(_TAIL) :]
            if rest.startswith(CALL_SEPARATOR):
                rest = rest[len(CALL_SEPARATOR) :]
            index += 1
        return deltas
