"""OpenAI-compatible completions: the body is routed, then relayed to one instance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from router.api.deps import deadline, request_id, services
from router.dispatch import RouteRequest
from router.requests import ChatCompletionRequest, CompletionRequest, text_of_messages
from router.routing_facade import RequestView

router = APIRouter()


def _requirements(body: Any) -> dict[str, Any]:
    return body.requirements.model_dump(exclude_none=True) if body.requirements else {}


async def route_and_dispatch(
    request: Request,
    *,
    path: str,
    payload: dict[str, Any],
    view: RequestView,
    stream: bool,
) -> Response:
    svc = services(request)
    snap = await svc.store.get()
    hooks = request.app.state.hooks
    caller = await hooks.authenticate(request, view)
    plan = svc.routing.plan(view, snap)
    rid = request_id(request)
    req = RouteRequest(
        request_id=rid,
        path=path,
        body=payload,
        stream=stream,
        candidates=plan.candidates,
        reason=plan.reason,
        task=plan.task,
        deadline=deadline(request, svc.settings.request_timeout_s),
    )
    admission = await hooks.admit(request, caller, view, plan, req)
    if isinstance(admission, Response):
        return admission

    def pick(model: str, version: str | None, exclude: set[str]):  # type: ignore[no-untyped-def]
        return svc.routing.pick(svc.store.current(), model, version, exclude, view)

    async def on_complete(outcome):  # type: ignore[no-untyped-def]
        await hooks.complete(request, caller, view, req, admission, outcome)

    return await svc.dispatcher.run(req, pick, on_complete)


@router.post("/v1/chat/completions")
async def chat_completions(request: Request, body: ChatCompletionRequest) -> Response:
    text, has_images = text_of_messages(body.messages)
    payload = body.model_dump(exclude_unset=True)
    view = RequestView(
        text=text,
        has_images=has_images,
        model=body.model,
        fallback_mode=body.fallback_mode,
        requirements=_requirements(body),
        max_tokens=body.max_tokens or body.max_completion_tokens,
        stream=body.stream,
        user_id=body.user,
        needs_tools=bool(body.tools),
    )
    return await route_and_dispatch(
        request, path="/v1/chat/completions", payload=payload, view=view, stream=body.stream
    )


@router.post("/v1/completions")
async def completions(request: Request, body: CompletionRequest) -> Response:
    prompt = body.prompt if isinstance(body.prompt, str) else "\n".join(body.prompt)
    payload = body.model_dump(exclude_unset=True)
    view = RequestView(
        text=prompt,
        model=body.model,
        fallback_mode=body.fallback_mode,
        requirements=_requirements(body),
        max_tokens=body.max_tokens,
        stream=body.stream,
        user_id=body.user,
    )
    return await route_and_dispatch(
        request, path="/v1/completions", payload=payload, view=view, stream=body.stream
    )
