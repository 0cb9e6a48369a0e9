"""OpenAI-compatible completions: parse the body, run the pipeline, render the answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from router import capabilities
from router.api.deps import services
from router.api.parsing import body_schema, parse_body
from router.pipeline import ParsedRequest, render, run_pipeline
from router.requests import ChatCompletionRequest, CompletionRequest, goal_of
from routing.catalog import Catalog
from routing.request_view import RequestView

router = APIRouter()


def canonical_model(catalog: Catalog, name: str) -> str:
    """The catalog id a client means (`TINY-CHAT`, `openai/tiny-chat`, an alias); an unknown
    name is kept, so routing answers it with its own 404."""
    if name == "auto":
        return name
    spec = catalog.resolve(name)
    return spec.id if spec is not None else name


def routing_fields(
    body: ChatCompletionRequest | CompletionRequest, catalog: Catalog
) -> dict[str, Any]:
    order = body.model_order()
    model = (
        canonical_model(catalog, order)
        if isinstance(order, str)
        else list(dict.fromkeys(canonical_model(catalog, m) for m in order))
    )
    fields: dict[str, Any] = {
        "model": model,
        "max_tokens": body.max_tokens,
        "stream": body.stream,
        "user_id": body.user,
    }
    if body.fallback_mode is not None:
        fields["fallback_mode"] = body.fallback_mode
    if body.requirements is not None:
        fields["requirements"] = body.requirements.model_dump(exclude_none=True)
    fields["goal"] = goal_of(body.routing)
    return fields


def _without_gateway_fields(payload: dict[str, Any]) -> dict[str, Any]:
    """The body an instance gets: OpenRouter's `models` is routing, not a model parameter, and
    `n: null` (what the SDK sends for `n=None`) means the default, which some servers reject."""
    return {k: v for k, v in payload.items() if k != "models" and not (k == "n" and v is None)}


def chat_view(
    body: ChatCompletionRequest, payload: dict[str, Any], catalog: Catalog
) -> tuple[RequestView, dict[str, Any]]:
    """The routing view of a chat request, its capability needs checked against the catalog
    (a need no model can meet is a 400 naming its `param`, before any upstream call)."""
    view = RequestView.from_messages(body.messages, **routing_fields(body, catalog))
    if body.max_completion_tokens and not body.max_tokens:
        view = view.model_copy(update={"max_tokens": body.max_completion_tokens})
    return capabilities.check_chat(view, payload, catalog)


@router.post("/v1/chat/completions", openapi_extra=body_schema(ChatCompletionRequest))
async def chat_completions(request: Request) -> Response:
    body, payload = await parse_body(request, ChatCompletionRequest)
    payload = _without_gateway_fields(payload)
    view, payload = chat_view(body, payload, services(request).catalog)
    parsed = ParsedRequest("/v1/chat/completions", payload, view, body.stream)
    return render(await run_pipeline(request, parsed))


@router.post("/v1/completions", openapi_extra=body_schema(CompletionRequest))
async def completions(request: Request) -> Response:
    body, payload = await parse_body(request, CompletionRequest)
    payload = _without_gateway_fields(payload)
    prompt = body.prompt if isinstance(body.prompt, str) else "\n".join(body.prompt)
    view = RequestView(prompt=prompt, **routing_fields(body, services(request).catalog))
    parsed = ParsedRequest("/v1/completions", payload, view, body.stream)
    return render(await run_pipeline(request, parsed))
