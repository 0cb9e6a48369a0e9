"""OpenAI-compatible completions: the body is routed, then relayed to one instance."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.responses import Response

from router.api.deps import client_request_id, deadline, request_id, services
from router.dispatch import Outcome, RouteRequest
from router.errors import BadRequest, Unprocessable
from router.requests import ChatCompletionRequest, CompletionRequest
from routing.instances import Instance
from routing.request_view import RequestView

router = APIRouter()
T = TypeVar("T", bound=BaseModel)


def routing_fields(body: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "model": body.model,
        "max_tokens": body.max_tokens,
        "stream": body.stream,
        "user_id": body.user,
    }
    if body.fallback_mode is not None:
        fields["fallback_mode"] = body.fallback_mode
    if body.requirements is not None:
        fields["requirements"] = body.requirements.model_dump(exclude_none=True)
    return fields


async def route_and_dispatch(
    request: Request,
    *,
    path: str,
    payload: dict[str, Any],
    view: RequestView,
    stream: bool,
    manual_not_served_404: bool = False,
) -> Response:
    svc = services(request)
    hooks = request.app.state.hooks
    caller = await hooks.authenticate(request)
    view = hooks.shape_view(caller, view)
    snap = await svc.store.get()
    decision = svc.routing.plan(view, snap, manual_not_served_404=manual_not_served_404)
    rid = request_id(request)
    req = RouteRequest(
        request_id=rid,
        path=path,
        body=payload,
        stream=stream,
        candidates=[(c.model, c.version) for c in decision.candidates],
        reason=decision.reason,
        task=decision.task,
        deadline=deadline(request, svc.settings.request_timeout_s),
    )
    admission = await hooks.admit(request, caller, view, decision, req)
    if isinstance(admission, Response):
        return _echo_request_id(request, admission, rid)

    def pick(model: str, version: str | None, exclude: set[str]) -> Instance | None:
        return svc.routing.pick(decision, model, version, exclude)

    async def on_complete(outcome: Outcome) -> None:
        await hooks.complete(request, caller, view, req, admission, outcome)

    try:
        response = await svc.dispatcher.run(req, pick, on_complete)
    except BaseException:
        # Nothing was served: give back the reservation and the overload slot.
        await hooks.abort(admission)
        raise
    return _echo_request_id(request, await hooks.finish(req, admission, response), rid)


def _echo_request_id(request: Request, response: Response, rid: str) -> Response:
    """`x-request-id` echoes the caller's id (else ours); `x-motherfluxer-request-id` is ours."""
    response.headers["x-request-id"] = client_request_id(request) or rid
    response.headers["x-motherfluxer-request-id"] = rid
    return response


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The request body for the OpenAPI document, since these routes parse it themselves."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return {"requestBody": {"content": {"application/json": {"schema": schema}}, "required": True}}


async def parse(request: Request, model: type[T]) -> tuple[T, dict[str, Any]]:
    """The body validated straight from bytes (pydantic's JSON parser), plus the raw dict.

    The hot routes skip FastAPI's body dependency: parsing once in Rust and keeping the
    caller's dict as sent (unknown OpenAI fields included) is measurably cheaper per request.
    """
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise Unprocessable("request body must be a JSON object")
    try:
        return model.model_validate(data), data
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False, include_url=False)) from None


@router.post(
    "/v1/chat/completions",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}
                }
            },
            "required": True,
        }
    },
)
async def chat_completions(request: Request) -> Response:
    body, payload = await parse(request, ChatCompletionRequest)
    view = RequestView.from_messages(body.messages, **routing_fields(body))
    if body.max_completion_tokens and not body.max_tokens:
        view = view.model_copy(update={"max_tokens": body.max_completion_tokens})
    if body.tools:
        req = view.requirements.model_copy(
            update={"required_capabilities": view.requirements.required_capabilities | {"tools"}}
        )
        view = view.model_copy(update={"requirements": req})
    return await route_and_dispatch(
        request, path="/v1/chat/completions", payload=payload, view=view, stream=body.stream
    )


@router.post(
    "/v1/completions",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CompletionRequest"}}
            },
            "required": True,
        }
    },
)
async def completions(request: Request) -> Response:
    body, payload = await parse(request, CompletionRequest)
    prompt = body.prompt if isinstance(body.prompt, str) else "\n".join(body.prompt)
    view = RequestView(prompt=prompt, **routing_fields(body))
    return await route_and_dispatch(
        request, path="/v1/completions", payload=payload, view=view, stream=body.stream
    )
