"""Chat completions answer -> OpenAI Responses `Response` object (and its output items).

The stream (`responses_stream.py`) builds the same object, so a streamed answer's
`response.completed` equals what the buffered call returns.
"""

from __future__ import annotations

from typing import Any

from router.ingress.responses_api import ResponsesRequest
from router.ingress.wire import chat_choice, chat_usage, new_id, now, text_of


def echo_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for tool in tools or []:
        out.append(
            {
                "type": "function",
                "name": tool["name"],
                "description": tool.get("description"),
                "parameters": tool.get("parameters"),
                "strict": tool.get("strict"),
            }
        )
    return out


def response_shell(body: ResponsesRequest, response_id: str, model: str) -> dict[str, Any]:
    """A `Response` object with no output yet (`status: in_progress`), echoing the request."""
    fmt = (body.text or {}).get("format") or {"type": "text"}
    return {
        "id": response_id,
        "object": "response",
        "created_at": now(),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.instructions,
        "max_output_tokens": body.max_output_tokens,
        "model": model,
        "output": [],
        "parallel_tool_calls": body.parallel_tool_calls is not False,
        "previous_response_id": body.previous_response_id,
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "text": {"format": fmt},
        "tool_choice": body.tool_choice or "auto",
        "tools": echo_tools(body.tools),
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "truncation": body.truncation or "disabled",
        "usage": None,
        "user": body.user,
        "metadata": body.metadata or {},
    }


def usage_object(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt_tokens + completion_tokens,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "role": "assistant",
        "status": status,
        "content": [text_part(text)] if status == "completed" else [],
    }


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def finish(
    shell: dict[str, Any],
    output: list[dict[str, Any]],
    finish_reason: str | None,
    usage: tuple[int, int],
) -> dict[str, Any]:
    """The shell completed with its output, status and usage."""
    done = dict(shell)
    done["output"] = output
    done["usage"] = usage_object(*usage)
    if finish_reason == "length":
        done["status"] = "incomplete"
        done["incomplete_details"] = {"reason": "max_output_tokens"}
    elif finish_reason == "content_filter":
        done["status"] = "incomplete"
        done["incomplete_details"] = {"reason": "content_filter"}
    else:
        done["status"] = "completed"
        done["completed_at"] = now()
    return done


def from_chat(shell: dict[str, Any], chat: dict[str, Any]) -> dict[str, Any]:
    """The `Response` for a whole chat completion."""
    choice = chat_choice(chat)
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    content = message.get("content")
    if isinstance(message.get("refusal"), str) and message["refusal"]:
        output.append(
            {
                "id": new_id("msg"),
                "type": "message",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "refusal", "refusal": message["refusal"]}],
            }
        )
    elif content or not message.get("tool_calls"):
        output.append(message_item(new_id("msg"), text_of(content)))
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        output.append(
            function_call_item(
                new_id("fc"),
                call.get("id") or new_id("call"),
                str(fn.get("name") or ""),
                str(fn.get("arguments") or "{}"),
            )
        )
    return finish(shell, output, choice.get("finish_reason"), chat_usage(chat))


def history_after(request_messages: list[dict[str, Any]], response: dict[str, Any]) -> list[dict]:
    """The conversation a follow-up (`previous_response_id`) continues: this turn's input
    (without instructions) and the answer, as chat messages."""
    out = list(request_messages)
    texts = []
    calls = []
    for item in response.get("output") or []:
        if item.get("type") == "message":
            texts.append(text_of(item.get("content")))
        elif item.get("type") == "function_call":
            calls.append(
                {
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                }
            )
    answer: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        answer["tool_calls"] = calls
    out.append(answer)
    return out
