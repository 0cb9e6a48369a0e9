"""The one seam between the ingress protocols and the chat pipeline.

Every translated request (Responses, Messages, embeddings) reaches the pipeline through
`dispatch` here, so re-pointing them at another pipeline entry is a change in one place.
The helpers below read the pipeline's answer (buffered, streamed or an error) so each route
module only supplies its protocol's translation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response, StreamingResponse

from router.api.completions import chat_view
from router.api.deps import services
from router.dispatch.openai_wire import event_json
from router.ingress.errors import IngressError
from router.pipeline import ParsedRequest, render, run_pipeline
from router.requests import ChatCompletionRequest
from routing.request_view import RequestView

T = TypeVar("T", bound=BaseModel)
logger = logging.getLogger("motherfluxer.router")

# Headers of the pipeline's answer that describe the body itself, not the routing.
_BODY_HEADERS = frozenset({"content-length", "content-type", "content-encoding"})


async def read_json(request: Request, model: type[T]) -> tuple[T, dict[str, Any]]:
    """The body validated against this protocol's model; every rejection names its `param`."""
    raw = await request.body()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise IngressError("request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise IngressError("request body must be a JSON object")
    return validate(model, data), data


def validate(model: type[T], data: dict[str, Any]) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        param = param_path(first.get("loc", ()))
        raise IngressError(
            f"{param or 'body'}: {first.get('msg', 'invalid')}", param=param
        ) from None


# Pydantic adds the union member it tried to an error's location; the caller never sent that.
_UNION_MEMBER = re.compile(r"^(str|int|float|bool|none|(dict|list|literal)\[.*\])$", re.IGNORECASE)


def param_path(loc: tuple[int | str, ...]) -> str | None:
    """A validation error's location as OpenAI writes `param`: `input[0].content`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _UNION_MEMBER.match(part) and not part.startswith("function-"):
            out += f".{part}" if out else part
    return out or None


async def dispatch(request: Request, chat: dict[str, Any]) -> Response:
    """Route a chat completions request (already translated) like `/v1/chat/completions`."""
    body = validate(ChatCompletionRequest, chat)
    view, chat = chat_view(body, chat, services(request).catalog)
    parsed = ParsedRequest("/v1/chat/completions", chat, view, body.stream)
    return render(await run_pipeline(request, parsed))


async def dispatch_embeddings(request: Request, payload: dict[str, Any], text: str) -> Response:
    """Route an embeddings request to the named model only: no fallback to a chat model."""
    view = RequestView(prompt=text, model=payload["model"], fallback_mode="none")
    parsed = ParsedRequest("/v1/embeddings", payload, view, stream=False)
    return render(await run_pipeline(request, parsed))


async def router_error(request: Request, exc: Exception) -> Response:
    """The router's own rendering of an error raised inside the pipeline (auth, limits…)."""
    handlers = request.app.exception_handlers
    for cls in type(exc).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            result = handler(request, exc)
            return await result if isinstance(result, Awaitable) else result
    raise exc


def routing_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower() not in _BODY_HEADERS}


def buffered_json(response: Response) -> Any:
    try:
        return orjson.loads(bytes(response.body))
    except (orjson.JSONDecodeError, AttributeError):
        return None


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(obj), status_code=status, media_type="application/json", headers=headers
    )


class StreamTranslator(Protocol):
    """What a protocol supplies to re-encode the chat stream (see `translate_stream`)."""

    def start(self) -> list[bytes]: ...

    def feed(self, chunk: dict[str, Any]) -> list[bytes]: ...

    def close(self) -> list[bytes]: ...

    def fail(self, message: str, code: str | None) -> list[bytes]: ...


def translate_stream(
    response: StreamingResponse,
    translator: StreamTranslator,
    after_close: Callable[[], Awaitable[None]] | None = None,
) -> StreamingResponse:
    """The pipeline's streamed answer, its chat chunks re-encoded by `translator`.

    The pipeline's own generator is always run to its end (or closed), so its accounting
    (instance slot, ledger status, retry budget) is exactly what a chat stream gets.
    """
    inner = response.body_iterator

    async def body() -> AsyncIterator[bytes]:
        failed = False
        try:
            for out in translator.start():
                yield out
            async for event in inner:
                obj = event_json(event if isinstance(event, bytes) else str(event).encode())
                if not isinstance(obj, dict) or failed:
                    continue
                if isinstance(obj.get("error"), dict):
                    failed = True
                    err = obj["error"]
                    for out in translator.fail(
                        str(err.get("message") or "stream failed"), err.get("code")
                    ):
                        yield out
                    continue
                for out in translator.feed(obj):
                    yield out
            if not failed:
                closing = translator.close()
                if after_close is not None:
                    try:
                        await after_close()
                    except Exception:
                        # The answer was streamed but not kept: say so rather than "completed".
                        logger.exception("could not keep a streamed answer")
                        closing = translator.fail("the answer could not be stored", "store_failed")
                for out in closing:
                    yield out
        finally:
            closer = getattr(inner, "aclose", None)
            if closer is not None:
                await closer()

    response.body_iterator = body()
    return response
