"""Relaying a stream once its first event arrived: nothing is retried from here on.

Bytes already reached the caller, so a failure now would duplicate or splice content if it
were retried: the stream ends with an error event (the OpenAI SDK raises it as an APIError)
and the ledger records what happened. See docs/resilience.md, section 4.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from router.dispatch.completion import call_hook_shielded
from router.dispatch.openai_wire import (
    data_event,
    delta_text,
    error_event,
    event_json,
    is_malformed,
    is_usage_only,
)
from router.dispatch.types import (
    CompletionHook,
    DispatchOutcome,
    DispatchRequest,
    RouteInfo,
    StreamedAnswer,
    Usage,
)
from router.upstream.base import StreamReply, UpstreamFailure
from routing.instances import Instance
from routing.outcome import Outcome
from routing.retry import STOP_STATUS, stop_for


@dataclass(slots=True)
class RelayEnds:
    """What the relay must do when it ends: give back the slot, record the instance's health."""

    record_health: Callable[[Instance, Outcome, float], None]
    release: Callable[[], None]
    on_complete: CompletionHook | None


def relay(
    req: DispatchRequest,
    inst: Instance,
    reply: StreamReply,
    route: RouteInfo,
    fallback: bool,
    ends: RelayEnds,
) -> StreamedAnswer:
    model = route.model or inst.model
    started = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal started
        started = True
        usage: Usage | None = None
        status, error_code = 200, None
        pieces: list[str] | None = [] if req.capture_text else None
        try:
            async for event in _with_first(reply.first_event, reply.events):
                obj = event_json(event)
                if obj is None and is_malformed(event):
                    # Relayed, a data line that is not JSON breaks the client's parser.
                    status, error_code = 502, "upstream_malformed_stream"
                    ends.record_health(inst, Outcome.malformed, 0.0)
                    yield error_event(
                        "upstream_error", "the model instance sent a malformed stream", error_code
                    )
                    return
                if isinstance(obj, dict):
                    if "error" in obj:
                        status, error_code = 502, "upstream_stream_error"
                        ends.record_health(inst, Outcome.stream_error, 0.0)
                        yield error_event(
                            "upstream_error", "the model instance failed mid-stream", error_code
                        )
                        return
                    if obj.get("usage"):
                        usage = Usage.from_obj(obj.get("usage")) or usage
                    if pieces is not None:
                        pieces.append(delta_text(obj))
                    if is_usage_only(obj) and not req.wants_usage:
                        continue
                    if obj.get("model") != model:
                        obj["model"] = model
                        event = data_event(obj)
                yield event
        except (GeneratorExit, asyncio.CancelledError):
            # The client went away mid-stream (closed at a yield, or cancelled while waiting
            # on the instance); the ledger says so.
            status, error_code = 499, "client_closed"
            raise
        except UpstreamFailure as failure:
            ends.record_health(inst, failure.outcome, 0.0)
            status = STOP_STATUS[stop_for(failure.outcome)]
            error_code = "upstream_stream_interrupted"
            yield error_event("upstream_error", "the model instance stopped mid-stream", error_code)
        finally:
            text = None if pieces is None else "".join(pieces)
            await settle(status, usage, error_code, text)

    async def settle(
        status: int, usage: Usage | None, error_code: str | None, text: str | None
    ) -> None:
        await reply.close()
        ends.release()
        outcome = DispatchOutcome.ended(
            req, route, status, usage=usage, fallback=fallback, error_code=error_code, text=text
        )
        await call_hook_shielded(ends.on_complete, outcome)

    async def abandoned() -> None:
        # The client left before the body started: Starlette never runs the generator, so
        # its cleanup (instance slot, retry budget, ledger) must happen here instead.
        if not started:
            await settle(499, None, "client_closed", None)

    return StreamedAnswer(events=body(), on_abandon=abandoned, route=route)


async def _with_first(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for event in rest:
        yield event
