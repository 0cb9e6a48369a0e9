"""What goes into the dispatcher and what comes out of it: plain data, no behaviour."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Parts of prompt_tokens read from / written to the provider's prompt cache.
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_obj(cls, usage: Any) -> Usage | None:
        if not isinstance(usage, dict):
            return None
        details = usage.get("prompt_tokens_details")
        details = details if isinstance(details, dict) else {}
        return cls(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
            cache_write_tokens=int(details.get("cache_write_tokens") or 0),
        )


@dataclass(slots=True)
class DispatchOutcome:
    """What the dispatcher did, handed to the record step (usage ledger, metrics)."""

    request_id: str
    model: str | None
    version: str | None
    instance_id: str | None
    status: int
    usage: Usage | None
    attempts: int
    latency_ms: float
    overhead_ms: float
    fallback: bool
    error_code: str | None = None
    # The answer's text, collected only when the request asked for its history to be kept.
    text: str | None = None

    @classmethod
    def ended(
        cls,
        req: DispatchRequest,
        route: RouteInfo,
        status: int,
        *,
        usage: Usage | None = None,
        fallback: bool = False,
        error_code: str | None = None,
        text: str | None = None,
    ) -> DispatchOutcome:
        """How a dispatch ended, now: its route, status and latency since the request came."""
        return cls(
            request_id=req.request_id,
            model=route.model,
            version=route.version,
            instance_id=route.instance_id,
            status=status,
            usage=usage,
            attempts=route.attempts,
            latency_ms=(time.perf_counter() - req.started) * 1000,
            overhead_ms=route.overhead_ms or 0.0,
            fallback=fallback,
            error_code=error_code,
            text=text,
        )


@dataclass(frozen=True, slots=True)
class QueueClaim:
    """How a request queues for a full model (routing.queueing): its priority class (0 goes
    first), the key its tokens count against, and its token weight (prompt + max output)."""

    priority: int = 0
    key: str = "anonymous"
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """One admitted request, ready to send: built by the pipeline, never changed after."""

    request_id: str
    path: str
    body: dict[str, Any]
    stream: bool
    candidates: tuple[tuple[str, str], ...]
    reason: str
    # The task label, or how to work it out: a named model's label is only reported, so the
    # pipeline has it classified while the upstream call is in flight, not before it.
    task_of: str | Callable[[], str] | None = None
    started: float = field(default_factory=time.perf_counter)
    deadline: float = 0.0
    capture_text: bool = False
    waiter: QueueClaim = QueueClaim()

    @property
    def task(self) -> str | None:
        task = self.task_of
        return task() if callable(task) else task

    @property
    def wants_usage(self) -> bool:
        return bool((self.body.get("stream_options") or {}).get("include_usage"))


def to_header(text: str) -> str:
    """A header value whose bytes on the wire are UTF-8 (a reason may say `→`); the ASGI
    servers write header strings as Latin-1, byte for byte."""
    return text if text.isascii() else text.encode("utf-8").decode("latin-1")


def from_header(value: str) -> str:
    """The text `to_header` made into a header value."""
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


@dataclass(slots=True)
class RouteInfo:
    """Where a request went and what it cost the router: the `x-motherfluxer-*` headers."""

    request_id: str
    reason: str
    attempts: int
    task: str | None = None
    model: str | None = None
    version: str | None = None
    instance_id: str | None = None
    overhead_ms: float | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.model is not None:
            headers["x-motherfluxer-model"] = self.model
        if self.version is not None:
            headers["x-motherfluxer-version"] = self.version
        if self.instance_id is not None:
            headers["x-motherfluxer-instance"] = self.instance_id
        headers["x-motherfluxer-route-reason"] = to_header(self.reason)
        if self.overhead_ms is not None:
            headers["x-motherfluxer-overhead-ms"] = f"{self.overhead_ms:.3f}"
        headers["x-motherfluxer-attempts"] = str(self.attempts)
        headers["x-request-id"] = self.request_id
        if self.task:
            headers["x-motherfluxer-task"] = self.task
        headers.update(self.extra)
        return headers


@dataclass(slots=True)
class BufferedAnswer:
    """A complete answer: the instance's JSON (or its own 4xx), already in our shape."""

    status: int
    body: bytes
    route: RouteInfo
    # The body as JSON when it is a usable answer (None for a passed-on 4xx).
    parsed: dict[str, Any] | None = None
    cached: bool = False


@dataclass(slots=True)
class StreamedAnswer:
    """An answer whose first event has arrived; `events` relays the rest as SSE bytes.

    `on_abandon` must run if the caller never iterates `events` (the client left first).
    """

    events: AsyncIterator[bytes]
    on_abandon: Callable[[], Awaitable[None]]
    route: RouteInfo


Answer = BufferedAnswer | StreamedAnswer
CompletionHook = Callable[[DispatchOutcome], Awaitable[None] | None]
