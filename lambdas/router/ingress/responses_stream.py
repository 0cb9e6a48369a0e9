"""Chat completion chunks -> the typed Responses event stream.

`response.created`, `response.in_progress`, then per output item `output_item.added`, its
content part or argument deltas and their `.done` events, `output_item.done`, and finally
`response.completed` (or `response.incomplete`) carrying the whole `Response` with usage.
"""

from __future__ import annotations

from typing import Any

from router.ingress.responses_output import (
    finish,
    function_call_item,
    message_item,
    text_part,
)
from router.ingress.wire import chunk_delta, named_event, new_id


class _Call:
    __slots__ = ("arguments", "call_id", "item_id", "name", "output_index")

    def __init__(self, output_index: int, call_id: str, name: str) -> None:
        self.output_index = output_index
        self.item_id = new_id("fc")
        self.call_id = call_id
        self.name = name
        self.arguments = ""


class ResponsesStream:
    """Feed it chat chunks (`feed`), then `close` (or `fail`); each returns SSE bytes to send."""

    def __init__(self, shell: dict[str, Any]) -> None:
        self.shell = shell
        self.sequence = 0
        self.output: list[dict[str, Any]] = []
        self.final: dict[str, Any] | None = None
        self._text_item: str | None = None
        self._text_index = -1
        self._text: list[str] = []
        self._calls: dict[int, _Call] = {}
        self._open_calls: list[_Call] = []
        self._finish_reason: str | None = None
        self._usage = (0, 0)

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return named_event(kind, payload)

    def start(self) -> list[bytes]:
        return [
            self._event("response.created", response=self.shell),
            self._event("response.in_progress", response=self.shell),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        part = chunk_delta(chunk, self._usage)
        self._usage = part.usage
        if text := part.text:
            out.extend(self._text_delta(text))
        for call in part.tool_calls:
            out.extend(self._call_delta(call))
        if part.finish_reason:
            self._finish_reason = part.finish_reason
        return out

    def _text_delta(self, text: str) -> list[bytes]:
        out = []
        if self._text_item is None:
            self._text_item = new_id("msg")
            self._text_index = len(self.output)
            self.output.append(message_item(self._text_item, "", status="in_progress"))
            out.append(
                self._event(
                    "response.output_item.added",
                    output_index=self._text_index,
                    item=self.output[self._text_index],
                )
            )
            out.append(
                self._event(
                    "response.content_part.added",
                    item_id=self._text_item,
                    output_index=self._text_index,
                    content_index=0,
                    part=text_part(""),
                )
            )
        self._text.append(text)
        out.append(
            self._event(
                "response.output_text.delta",
                item_id=self._text_item,
                output_index=self._text_index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return out

    def _call_delta(self, call: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        index = int(call.get("index") or 0)
        fn = call.get("function") or {}
        state = self._calls.get(index)
        if state is None:
            out.extend(self._close_text())
            state = _Call(len(self.output), call.get("id") or new_id("call"), fn.get("name") or "")
            self._calls[index] = state
            self._open_calls.append(state)
            self.output.append(
                function_call_item(state.item_id, state.call_id, state.name, "", "in_progress")
            )
            out.append(
                self._event(
                    "response.output_item.added",
                    output_index=state.output_index,
                    item=self.output[state.output_index],
                )
            )
        piece = fn.get("arguments")
        if isinstance(piece, str) and piece:
            state.arguments += piece
            out.append(
                self._event(
                    "response.function_call_arguments.delta",
                    item_id=state.item_id,
                    output_index=state.output_index,
                    delta=piece,
                )
            )
        return out

    def _close_text(self) -> list[bytes]:
        if self._text_item is None:
            return []
        text = "".join(self._text)
        item = message_item(self._text_item, text)
        self.output[self._text_index] = item
        out = [
            self._event(
                "response.output_text.done",
                item_id=self._text_item,
                output_index=self._text_index,
                content_index=0,
                text=text,
                logprobs=[],
            ),
            self._event(
                "response.content_part.done",
                item_id=self._text_item,
                output_index=self._text_index,
                content_index=0,
                part=text_part(text),
            ),
            self._event("response.output_item.done", output_index=self._text_index, item=item),
        ]
        self._text_item = None
        return out

    def _close_calls(self) -> list[bytes]:
        out = []
        for state in self._open_calls:
            item = function_call_item(
                state.item_id, state.call_id, state.name, state.arguments or "{}"
            )
            self.output[state.output_index] = item
            out.append(
                self._event(
                    "response.function_call_arguments.done",
                    item_id=state.item_id,
                    output_index=state.output_index,
                    arguments=item["arguments"],
                )
            )
            out.append(
                self._event("response.output_item.done", output_index=state.output_index, item=item)
            )
        self._open_calls = []
        return out

    def close(self) -> list[bytes]:
        """The answer ended normally: close every item and send the final response."""
        out = self._close_text() + self._close_calls()
        self.final = finish(self.shell, self.output, self._finish_reason, self._usage)
        kind = (
            "response.completed" if self.final["status"] == "completed" else "response.incomplete"
        )
        out.append(self._event(kind, response=self.final))
        return out

    def fail(self, message: str, code: str | None) -> list[bytes]:
        """The answer broke off: an `error` event, then `response.failed`."""
        failed = dict(self.shell)
        failed["status"] = "failed"
        failed["output"] = [i for i in self.output if i.get("status") == "completed"]
        failed["error"] = {"code": "server_error", "message": message}
        return [
            self._event("error", code=code, message=message, param=None),
            self._event("response.failed", response=failed),
        ]
