"""Anthropic Messages API ingress: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

Any model of the catalog answers, Anthropic or not. The key may come as `x-api-key` (Claude
tools) or `Authorization: Bearer` (the anthropic SDK 2.x); every error takes Anthropic's shape
and status codes.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response, StreamingResponse

from router.api.ingress_dispatch import (
    buffered_json,
    dispatch,
    json_response,
    read_json,
    router_error,
    routing_headers,
    translate_stream,
)
from router.api.model_detail import resolve_model
from router.api.parsing import body_schema
from router.ingress.errors import IngressError, anthropic_error, parse_openai_error
from router.ingress.messages_api import (
    CountTokensRequest,
    MessagesRequest,
    chat_messages,
    chat_tools,
    from_chat,
    to_chat,
)
from router.ingress.messages_stream import MessagesStream
from routing.scoring import estimate_tokens

router = APIRouter()


def _accept_x_api_key(request: Request) -> None:
    """Claude-style clients send `x-api-key`; the pipeline reads `Authorization`."""
    key = request.headers.get("x-api-key")
    if not key or request.headers.get("authorization"):
        return
    request.scope["headers"] = [
        *request.scope["headers"],
        (b"authorization", b"Bearer " + key.strip().encode("latin-1")),
    ]
    # Starlette caches the parsed headers on first access; drop them so the key is seen.
    request.__dict__.pop("_headers", None)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    mapped, body = anthropic_error(status, message)
    return json_response(body, mapped, headers)


def _router_error(response: Response) -> Response:
    inner = parse_openai_error(bytes(response.body), response.status_code)
    return _error(response.status_code, inner["message"], routing_headers(response))


@router.post("/v1/messages", openapi_extra=body_schema(MessagesRequest))
async def create_message(request: Request) -> Response:
    _accept_x_api_key(request)
    try:
        body, _ = await read_json(request, MessagesRequest)
        answer = await dispatch(request, to_chat(body))
    except IngressError as exc:
        return _error(exc.status, exc.message)
    except Exception as exc:  # the pipeline's own errors (auth, limits): rendered, then reshaped
        return _router_error(await router_error(request, exc))
    if answer.status_code >= 400:
        return _router_error(answer)
    model = answer.headers.get("x-motherfluxer-model") or body.model
    if isinstance(answer, StreamingResponse):
        return translate_stream(answer, MessagesStream(model))
    chat_answer = buffered_json(answer)
    if not isinstance(chat_answer, dict):
        return _error(502, "the model answered with an invalid body")
    return json_response(from_chat(chat_answer, model), headers=routing_headers(answer))


@router.post("/v1/messages/count_tokens", openapi_extra=body_schema(CountTokensRequest))
async def count_tokens(request: Request) -> Response:
    """The prompt's size as the router estimates it (about four characters per token),
    the same estimate routing and admission use; no model is called."""
    _accept_x_api_key(request)
    try:
        body, _ = await read_json(request, CountTokensRequest)
        await request.app.state.policy.authenticate(request)
        catalog = request.app.state.services.catalog
        if body.model != "auto" and resolve_model(catalog, body.model) is None:
            raise IngressError(f"model: {body.model}", status=404)
        messages = chat_messages(body.system, body.messages)
        tools = chat_tools(body.tools) or []
    except IngressError as exc:
        return _error(exc.status, exc.message)
    except Exception as exc:
        return _router_error(await router_error(request, exc))
    text = "\n".join(_message_text(m) for m in messages)
    if tools:
        text += orjson.dumps(tools).decode()
    images = sum(
        1
        for m in messages
        if isinstance(m.get("content"), list)
        for p in m["content"]
        if p.get("type") == "image_url"
    )
    return json_response({"input_tokens": estimate_tokens(text, images)})


def _message_text(message: dict) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") for p in content or [] if isinstance(p, dict)]
    calls = [c["function"]["arguments"] for c in message.get("tool_calls") or []]
    return "".join(parts + calls)
