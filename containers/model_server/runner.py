"""Admission and buffered generation: one job in, all its text and final counts out."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from model_server.errors import ApiError
from model_server.protocol import GenerationError, GenerationEvent, GenerationJob
from model_server.state import ServerState
from model_server.supervisor import BackendUnavailable


@dataclass
class Outcome:
    text: list[str] = field(default_factory=list)
    last: GenerationEvent | None = None

    @property
    def joined(self) -> str:
        return "".join(self.text)


def generation_error(exc: GenerationError) -> ApiError:
    if exc.kind == "context_length_exceeded":
        return ApiError(400, str(exc), "context_length_exceeded", param="messages")
    if exc.kind == "invalid_grammar":
        # The grammar library refused the schema: the caller's input, so a 400 that says so.
        return ApiError(400, str(exc), "invalid_schema", param=exc.param)
    if exc.kind == "invalid_input":
        return ApiError(400, str(exc), "invalid_input", param=exc.param)
    return ApiError(500, "the model backend failed to generate", "backend_error")


def unavailable(exc: BackendUnavailable) -> ApiError:
    return ApiError(503, str(exc), "backend_unavailable", retry_after=1)


def admit(state: ServerState) -> None:
    if state.draining:
        raise ApiError(503, "server is draining", "draining", retry_after=1)
    if not state.supervisor.ready:
        raise ApiError(503, "model backend is not ready", "backend_not_ready", retry_after=1)
    if state.supervisor.outstanding >= state.settings.max_queue:
        raise ApiError(503, "server is at capacity", "overloaded", retry_after=1)


async def run_buffered(state: ServerState, endpoint: str, job: GenerationJob) -> Outcome:
    admit(state)
    outcome = Outcome()
    started = time.monotonic()
    first: float | None = None
    state.request_started()
    try:
        async for event in state.supervisor.generate(job):
            if first is None and event.text:
                first = time.monotonic() - started
            outcome.text.append(event.text)
            outcome.last = event
    except BackendUnavailable as exc:
        raise unavailable(exc) from exc
    except GenerationError as exc:
        raise generation_error(exc) from exc
    finally:
        state.request_finished()
    assert outcome.last is not None
    state.metrics.observe_generation(
        endpoint,
        time.monotonic() - started,
        first,
        outcome.last.prompt_tokens,
        outcome.last.completion_tokens,
    )
    return outcome
