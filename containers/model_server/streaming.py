"""Streamed generation as SSE: first event awaited before answering, errors in-stream after."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Protocol

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from model_server.openai_format import sse
from model_server.protocol import GenerationError, GenerationJob
from model_server.runner import admit, generation_error, unavailable
from model_server.state import ServerState
from model_server.supervisor import BackendUnavailable


class StreamWriter(Protocol):
    def opening(self) -> bytes: ...

    def content(self, text: str) -> bytes: ...

    def finish(self, finish_reason: str, prompt_tokens: int, completion_tokens: int) -> bytes: ...


async def run_streamed(
    state: ServerState, endpoint: str, job: GenerationJob, writer: StreamWriter
) -> StreamingResponse:
    admit(state)
    started = time.monotonic()
    events = state.supervisor.generate(job)
    state.request_started()
    try:
        # The first event is awaited before answering, so a backend that is gone (or a
        # grammar it refuses) still gets a proper status rather than a 200 stream that breaks.
        head = await anext(events)
    except BaseException as exc:
        state.request_finished()
        await events.aclose()
        if isinstance(exc, BackendUnavailable):
            raise unavailable(exc) from exc
        if isinstance(exc, GenerationError):
            raise generation_error(exc) from exc
        raise

    released = False

    async def release() -> None:
        # Runs from the body's finally and again as a background task: the body never
        # starts if the client leaves right after the headers, and must not leak then.
        nonlocal released
        if not released:
            released = True
            state.request_finished()
        with contextlib.suppress(Exception):
            await events.aclose()

    async def body() -> AsyncIterator[bytes]:
        event = head
        first: float | None = None
        try:
            opening = writer.opening()
            if opening:
                yield opening
            while True:
                if event.text:
                    if first is None:
                        first = time.monotonic() - started
                    piece = writer.content(event.text)
                    if piece:
                        yield piece
                if event.finish_reason is not None:
                    yield writer.finish(
                        event.finish_reason, event.prompt_tokens, event.completion_tokens
                    )
                    state.metrics.observe_generation(
                        endpoint,
                        time.monotonic() - started,
                        first,
                        event.prompt_tokens,
                        event.completion_tokens,
                    )
                    return
                event = await anext(events)
        except BackendUnavailable as exc:
            # Headers are gone already: the error travels in the stream, as OpenAI does.
            yield sse(unavailable(exc).body())
        except GenerationError as exc:
            yield sse(generation_error(exc).body())
        finally:
            await release()

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        background=BackgroundTask(release),
    )
