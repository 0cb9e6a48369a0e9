"""OpenAI wire details of the relay: the body sent upstream and the SSE events relayed back."""

from __future__ import annotations

from typing import Any

import orjson

from router.errors import error_body

DONE = b"data: [DONE]\n\n"

# MotherFluxer's own request fields: routing and accounts read them, an instance never sees them.
_ROUTER_FIELDS = (
    "fallback_mode",
    "preferred_model",
    "auto_select",
    "requirements",
    "routing",
    "cache",
    "save_conversation",
    "conversation_id",
)


def upstream_payload(body: dict[str, Any], upstream_model: str, stream: bool) -> bytes:
    out = {k: v for k, v in body.items() if k not in _ROUTER_FIELDS}
    out["model"] = upstream_model
    if stream:
        # Always ask for usage so the ledger has real token counts; the caller only sees
        # the usage chunk when they asked for it.
        opts = dict(out.get("stream_options") or {})
        opts["include_usage"] = True
        out["stream_options"] = opts
    return orjson.dumps(out)


def event_json(event: bytes) -> Any | None:
    """The JSON payload of one SSE event, None for [DONE], comments or non-JSON data."""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                return None
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
    return None


def is_malformed(event: bytes) -> bool:
    """True when an event carries a data line that is neither JSON nor `[DONE]`."""
    for line in event.splitlines():
        if line.startswith(b"data:"):
            data = line[5:].strip()
            if data == b"[DONE]":
                continue
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                return True
    return False


def is_usage_only(obj: Any) -> bool:
    return isinstance(obj, dict) and not obj.get("choices") and obj.get("usage") is not None


def error_event(type_: str, message: str, code: str) -> bytes:
    return b"data: " + error_body(type_, message, code) + b"\n\n"


def data_event(obj: Any) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def answer_text(obj: dict[str, Any]) -> str:
    choice = (obj.get("choices") or [{}])[0]
    if not isinstance(choice, dict):
        return ""
    message = choice.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return message["content"]
    return choice.get("text") if isinstance(choice.get("text"), str) else ""


def delta_text(obj: dict[str, Any]) -> str:
    choices = obj.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("content"), str):
        return delta["content"]
    return choices[0].get("text") if isinstance(choices[0].get("text"), str) else ""


def finish_answer(obj: dict[str, Any], model: str) -> bool:
    """Put the routed model's name on an answer and `refusal: null` on each assistant message
    (OpenAI always sends the field). True when the object changed."""
    changed = False
    if obj.get("model") != model:
        obj["model"] = model
        changed = True
    for choice in obj.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and "refusal" not in message:
            message["refusal"] = None
            changed = True
    return changed


def client_error_body(body: bytes, status: int) -> bytes:
    """An instance's own 4xx in our error shape, keeping only its message."""
    message = "the model instance rejected the request"
    param = None
    code = f"upstream_{status}"
    try:
        obj = orjson.loads(body)
        inner = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"][:500]
            param = inner.get("param") if isinstance(inner.get("param"), str) else None
            # The upstream's own code (context_length_exceeded, ...) is what clients branch on.
            if isinstance(inner.get("code"), str) and inner["code"].isidentifier():
                code = inner["code"][:100]
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return error_body("invalid_request_error", message, code, param)
