"""Seed 003's `/inference` (manual, auto and hybrid selection) and the dry-run recommender."""

from __future__ import annotations

import time

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from router.api.deps import services
from router.dispatch import BufferedAnswer
from router.errors import BadRequest
from router.pipeline import ParsedRequest, render, run_pipeline
from router.requests import InferenceRequest, goal_of
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
        raise BadRequest(
            "fallback_mode applies only with preferred_model",
            code="invalid_fallback",
            param="fallback_mode",
        )
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
        goal=goal_of(body.routing),
    )
    payload: dict[str, object] = {"prompt": body.prompt, "max_tokens": body.max_length}
    if body.temperature is not None:
        payload["temperature"] = body.temperature
    if body.stream:
        # Streamed, the answer is the OpenAI text-completion SSE; the route headers say the rest.
        payload["stream"] = True
    parsed = ParsedRequest(
        "/v1/completions", payload, view, body.stream, manual_not_served_404=True
    )
    answer = await run_pipeline(request, parsed)
    if not isinstance(answer, BufferedAnswer) or answer.parsed is None:
        return render(answer)
    return _inference_response(answer, mode, started)


def _inference_response(answer: BufferedAnswer, mode: str, started: float) -> Response:
    upstream = answer.parsed or {}
    choice = (upstream.get("choices") or [{}])[0]
    route = answer.route
    result = {
        "id": upstream.get("id"),
        "generated_text": choice.get("text", ""),
        "finish_reason": choice.get("finish_reason"),
        "model": route.model,
        "version": route.version,
        "instance": route.instance_id,
        "selection_mode": mode,
        "task": route.task,
        "route_reason": route.reason,
        "usage": upstream.get("usage"),
        "latency_ms": round((time.perf_counter() - started) * 1000, 3),
    }
    return Response(
        orjson.dumps(result),
        status_code=answer.status,
        media_type="application/json",
        headers=route.headers(),
    )


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
        raise BadRequest("body must be a JSON object", code="invalid_parameter")
    requirements = body.get("requirements") or {}
    messages = body.get("messages")
    try:
        if messages is not None:
            if not isinstance(messages, list) or not messages:
                raise BadRequest(
                    "messages must be a non-empty list", code="invalid_parameter", param="messages"
                )
            return RequestView.from_messages(messages, requirements=requirements)
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadRequest(
                "give 'prompt' (a string) or 'messages' (OpenAI chat messages)",
                code="invalid_parameter",
                param="prompt",
            )
        return RequestView(prompt=prompt, requirements=requirements)
    except ValidationError as exc:
        raise BadRequest(
            f"invalid requirements: {exc.errors()[0].get('msg')}",
            code="invalid_parameter",
            param="requirements",
        ) from None
