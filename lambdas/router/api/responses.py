"""OpenAI Responses API: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`.

The request is translated onto the chat pipeline, so every model of the catalog answers it,
whichever provider serves it. Answers are stored only when the request says `store: true`,
per API key, in the accounts database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
from router.api.parsing import body_schema
from router.ingress.errors import IngressError, openai_error_body, parse_openai_error
from router.ingress.responses_api import ResponsesRequest, input_messages, to_chat
from router.ingress.responses_output import from_chat, history_after, response_shell
from router.ingress.responses_stream import ResponsesStream
from router.ingress.wire import new_id

router = APIRouter()


def _error(exc: IngressError) -> Response:
    return json_response(openai_error_body(exc.type, exc.message, exc.param, exc.code), exc.status)


def _router_error(response: Response) -> Response:
    status = 400 if response.status_code == 422 else response.status_code
    body = {"error": parse_openai_error(bytes(response.body), response.status_code)}
    return json_response(body, status, routing_headers(response))


@dataclass(frozen=True, slots=True)
class _Owner:
    """The store, and the key (and its user) a stored response belongs to."""

    store: Any
    key_prefix: str
    user_id: str


async def _owner(request: Request, param: str | None) -> _Owner:
    policy = request.app.state.policy
    service = getattr(policy, "service", None)
    if service is None:
        raise IngressError(
            "stored responses need the accounts database, which this router runs without",
            param=param,
        )
    caller = await policy.authenticate(request)
    if caller.key_prefix is None or caller.user_id is None:
        raise IngressError("stored responses need an API key", param=param)
    store = getattr(request.app.state, "responses_store", None)
    if store is None:
        from accounts.responses_store import ResponsesStore

        store = ResponsesStore(service.store.engine)
        request.app.state.responses_store = store
    return _Owner(store, caller.key_prefix, caller.user_id)


def _not_found(response_id: str) -> IngressError:
    return IngressError(
        f"Response with id '{response_id}' not found.", status=404, code="not_found", param=None
    )


@router.post("/v1/responses", openapi_extra=body_schema(ResponsesRequest))
async def create_response(request: Request) -> Response:
    try:
        body, _ = await read_json(request, ResponsesRequest)
        owner = None
        history: list[dict[str, Any]] = []
        if body.store or body.previous_response_id:
            owner = await _owner(request, "store" if body.store else "previous_response_id")
        if body.previous_response_id and owner is not None:
            found = await owner.store.get(body.previous_response_id, owner.key_prefix)
            if found is None:
                raise IngressError(
                    f"Previous response with id '{body.previous_response_id}' not found.",
                    param="previous_response_id",
                    status=404,
                    code="previous_response_not_found",
                )
            history = found.history
        chat = to_chat(body, history)
        answer = await dispatch(request, chat)
    except IngressError as exc:
        return _error(exc)
    except Exception as exc:  # the pipeline's own errors (auth, limits): rendered, then reshaped
        return _router_error(await router_error(request, exc))
    if answer.status_code >= 400:
        return _router_error(answer)

    model = answer.headers.get("x-motherfluxer-model") or body.model
    shell = response_shell(body, new_id("resp"), model)
    asked = history + input_messages(body.input)
    keep = owner if body.store else None

    async def save(result: dict[str, Any]) -> None:
        if keep is not None:
            history_now = history_after(asked, result)
            await keep.store.save(result["id"], keep.key_prefix, keep.user_id, result, history_now)

    if isinstance(answer, StreamingResponse):
        stream = ResponsesStream(shell)

        async def after_close() -> None:
            assert stream.final is not None
            await save(stream.final)

        return translate_stream(answer, stream, after_close if keep is not None else None)
    chat_answer = buffered_json(answer)
    if not isinstance(chat_answer, dict):
        return _error(IngressError("the model answered with an invalid body", status=502))
    result = from_chat(shell, chat_answer)
    await save(result)
    return json_response(result, headers=routing_headers(answer))


@router.get("/v1/responses/{response_id}")
async def get_response(response_id: str, request: Request) -> Response:
    try:
        owner = await _owner(request, None)
        found = await owner.store.get(response_id, owner.key_prefix)
        if found is None:
            raise _not_found(response_id)
    except IngressError as exc:
        return _error(exc)
    except Exception as exc:
        return _router_error(await router_error(request, exc))
    return json_response(found.response)


@router.delete("/v1/responses/{response_id}")
async def delete_response(response_id: str, request: Request) -> Response:
    try:
        owner = await _owner(request, None)
        if not await owner.store.delete(response_id, owner.key_prefix):
            raise _not_found(response_id)
    except IngressError as exc:
        return _error(exc)
    except Exception as exc:
        return _router_error(await router_error(request, exc))
    return json_response({"id": response_id, "object": "response", "deleted": True})
