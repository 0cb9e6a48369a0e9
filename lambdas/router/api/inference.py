"""Seed 003's `/inference` (manual, auto and hybrid selection) and the dry-run recommender."""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from router.api.completions import route_and_dispatch
from router.api.deps import services
from router.errors import BadRequest, Unprocessable
from router.requests import InferenceRequest
from routing.request_view import RequestView

router = APIRouter()


def _mode(body: InferenceRequest) -> str:
    chosen = [bool(body.model), body.auto_select, bool(body.preferred_model)]
    if sum(chosen) > 1:
        raise BadRequest(
            "choose one selection mode: 'model', 'auto_select' or 'preferred_model'",
            code="conflicting_selection_modes",
        )
    if body.model:
        return "manual"
    if body.preferred_model:
        return "hybrid"
    return "auto"


@router.post("/inference")
async def inference(request: Request, body: InferenceRequest) -> Response:
    started = time.perf_counter()
    mode = _mode(body)
    if body.fallback_mode is not None and mode != "hybrid":
        raise BadRequest("fallback_mode applies only with preferred_model", code="invalid_fallback")
    view = RequestView(
        prompt=body.prompt,
        model=body.model if mode == "manual" else None,
        auto_select=mode == "auto",
        preferred_model=body.preferred_model,
        fallback_mode=(body.fallback_mode or "auto") if mode == "hybrid" else "auto",
        requirements=body.requirements.model_dump(exclude_none=True) if body.requirements else {},
        max_tokens=body.max_length,
        stream=body.stream,
        user_id=body.user,
    )
    payload: dict[str, object] = {"prompt": body.prompt, "max_tokens": body.max_length}
    if body.temperature is not None:
        payload["temperature"] = body.temperature
    if body.stream:
        # Streamed, the answer is the OpenAI text-completion SSE; the route headers say the rest.
        payload["stream"] = True
        return await route_and_dispatch(
            request,
            path="/v1/completions",
            payload=payload,
            view=view,
            stream=True,
            manual_not_served_404=True,
        )
    response = await route_and_dispatch(
        request,
        path="/v1/completions",
        payload=payload,
        view=view,
        stream=False,
        manual_not_served_404=True,
    )
    if response.status_code != 200:
        return response
    upstream = orjson.loads(response.body)
    choice = (upstream.get("choices") or [{}])[0]
    headers = {k: v for k, v in response.headers.items() if k.startswith("x-")}
    result = {
        "id": upstream.get("id"),
        "generated_text": choice.get("text", ""),
        "finish_reason": choice.get("finish_reason"),
        "model": headers.get("x-motherfluxer-model"),
        "version": headers.get("x-motherfluxer-version"),
        "instance": headers.get("x-motherfluxer-instance"),
        "selection_mode": mode,
        "task": headers.get("x-motherfluxer-task"),
        "route_reason": headers.get("x-motherfluxer-route-reason"),
        "usage": upstream.get("usage"),
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return Response(orjson.dumps(result), media_type="application/json", headers=headers)


@router.post("/models/recommend")
async def recommend(request: Request) -> Response:
    """Dry run: which model auto-selection would pick for this prompt, and why."""
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    return await _recommend(request, body)


@router.get("/models/recommend")
async def recommend_get(request: Request, prompt: str = "") -> Response:
    """The same dry run for a prompt given as a query parameter."""
    return await _recommend(request, {"prompt": prompt})


async def _recommend(request: Request, body: object) -> Response:
    svc = services(request)
    view = _recommend_view(body)
    snap = await svc.store.get()
    result = svc.routing.recommend(view, snap)
    return Response(orjson.dumps(result), media_type="application/json")


def _recommend_view(body: object) -> RequestView:
    if not isinstance(body, dict):
        raise Unprocessable("body must be a JSON object")
    requirements = body.get("requirements") or {}
    messages = body.get("messages")
    try:
        if messages is not None:
            if not isinstance(messages, list) or not messages:
                raise Unprocessable("messages must be a non-empty list")
            return RequestView.from_messages(messages, requirements=requirements)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise Unprocessable("give 'prompt' (a string) or 'messages' (OpenAI chat messages)")
        return RequestView(prompt=prompt, requirements=requirements)
    except ValidationError as exc:
        raise Unprocessable(f"invalid requirements: {exc.errors()[0].get('msg')}") from None
