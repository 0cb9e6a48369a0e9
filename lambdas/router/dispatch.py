"""Sends one routed request to an instance, failing over until an answer starts flowing.

Order of attempts: other instances of the same model and version first, then the plan's
fallback candidates; retries happen here only (never in the clients), only before the first
byte reaches the caller, and only while the retry budget allows. See docs/resilience.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from starlette.responses import Response, StreamingResponse

from router.errors import (
    APIError,
    ServiceUnavailable,
    UpstreamError,
    UpstreamTimeout,
    error_response,
)
from router.sse import error_event, event_json, is_malformed, is_usage_only
from router.upstream.base import (
    MALFORMED,
    TIMEOUT_CONNECT,
    TIMEOUT_FIRST_BYTE,
    TIMEOUT_STALL,
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamClient,
    UpstreamFailure,
    check_buffered_body,
)
from routing.instances import Instance

logger = logging.getLogger("motherfluxer.router")

# Left for the router itself to answer before the Lambda is frozen.
DEADLINE_MARGIN_S = 0.5


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
class Outcome:
    """What the dispatcher did, handed to the completion hook (usage ledger, metrics)."""

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


@dataclass(slots=True)
class RouteRequest:
    request_id: str
    path: str
    body: dict[str, Any]
    stream: bool
    candidates: list[tuple[str, str | None]]
    reason: str
    task: str | None = None
    started: float = field(default_factory=time.perf_counter)
    deadline: float = 0.0
    extra_headers: dict[str, str] = field(default_factory=dict)
    capture_text: bool = False


class GuardedStreamingResponse(StreamingResponse):
    """A streaming response whose cleanup runs even if its body is never iterated."""

    def __init__(self, content: Any, *, on_abandon: Callable[[], Awaitable[None]], **kw: Any):
        super().__init__(content, **kw)
        self._on_abandon = on_abandon

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # A client that hangs up leaves the body generator suspended at a `yield`;
            # closing it now runs its cleanup instead of waiting for garbage collection.
            closer = getattr(self.body_iterator, "aclose", None)
            if closer is not None:
                await asyncio.shield(closer())
            await asyncio.shield(self._on_abandon())


class InstancePicker(Protocol):
    def __call__(self, model: str, version: str | None, exclude: set[str]) -> Instance | None: ...


class PassiveHealth(Protocol):
    def admit(self, instance: Instance) -> float | None:
        """None to skip the instance, else the timeout this attempt must respect."""

    def record(self, instance: Instance, outcome: str, latency_ms: float) -> None: ...

    def cool_down(self, instance: Instance, seconds: float) -> None: ...


class RetryGovernor(Protocol):
    def begin(self) -> None: ...

    def end(self) -> None: ...

    def allow_retry(self) -> bool: ...

    def retry_done(self, succeeded: bool = False) -> None: ...

    def backoff_s(
        self, retry_number: int, retry_after: float | None, remaining_s: float
    ) -> float: ...


CompletionHook = Callable[[Outcome], Awaitable[None] | None]


class Dispatcher:
    def __init__(
        self,
        *,
        clients: dict[str, UpstreamClient],
        health: PassiveHealth,
        retries: RetryGovernor,
        connect_timeout_s: float,
        first_byte_timeout_s: float,
        stall_timeout_s: float,
        request_timeout_s: float,
        max_attempts: int = 4,
        on_acquire: Callable[[str], None] = lambda _id: None,
        on_release: Callable[[str], None] = lambda _id: None,
    ) -> None:
        self._clients = clients
        self._health = health
        self._retries = retries
        self._connect = connect_timeout_s
        self._first_byte = first_byte_timeout_s
        self._stall = stall_timeout_s
        self._request_timeout = request_timeout_s
        self._max_attempts = max_attempts
        self._acquire = on_acquire
        self._release = on_release

    def _timeouts(self, deadline: float, cap: float | None) -> Timeouts | None:
        remaining = deadline - time.perf_counter() - DEADLINE_MARGIN_S
        if remaining <= 0.05:
            return None
        limit = remaining if cap is None else min(remaining, cap)
        return Timeouts(
            connect=min(self._connect, limit),
            first_byte=min(self._first_byte, limit),
            stall=min(self._stall, limit),
            total=min(self._request_timeout, limit),
        )

    async def run(
        self,
        req: RouteRequest,
        pick: InstancePicker,
        on_complete: CompletionHook | None = None,
    ) -> Response:
        self._retries.begin()
        handed_to_stream = False
        try:
            response, handed_to_stream = await self._run(req, pick, on_complete)
            return response
        finally:
            if not handed_to_stream:
                self._retries.end()

    async def _run(
        self, req: RouteRequest, pick: InstancePicker, on_complete: CompletionHook | None
    ) -> tuple[Response, bool]:
        wants_usage = bool((req.body.get("stream_options") or {}).get("include_usage"))
        upstream_s = 0.0
        attempts = 0
        tried: set[str] = set()
        last_failure: UpstreamFailure | None = None
        deadline = req.deadline or (req.started + self._request_timeout + DEADLINE_MARGIN_S)
        first_model = req.candidates[0][0] if req.candidates else None

        for model, version in req.candidates:
            while attempts < self._max_attempts:
                inst = pick(model, version, tried)
                if inst is None:
                    break
                tried.add(inst.instance_id)
                probe_timeout = self._health.admit(inst)
                if probe_timeout is None:
                    continue
                is_retry = attempts > 0
                if is_retry:
                    if not self._retries.allow_retry():
                        return await self._give_up(
                            req, last_failure, attempts, on_complete, budget=True
                        ), False
                    wait = self._retries.backoff_s(
                        attempts,
                        last_failure.retry_after if last_failure else None,
                        deadline - time.perf_counter() - DEADLINE_MARGIN_S,
                    )
                    if wait > 0:
                        await asyncio.sleep(wait)
                timeouts = self._timeouts(deadline, probe_timeout if probe_timeout > 0 else None)
                if timeouts is None:
                    last_failure = UpstreamFailure(TIMEOUT_FIRST_BYTE, "deadline reached")
                    return await self._give_up(req, last_failure, attempts, on_complete), False
                attempts += 1
                client = self._clients.get(inst.kind)
                if client is None:
                    continue
                payload = self._payload(req, model, inst)
                self._acquire(inst.instance_id)
                t0 = time.perf_counter()
                try:
                    reply = await client.send(
                        inst, req.path, payload, stream=req.stream, timeouts=timeouts
                    )
                    if isinstance(reply, BufferedReply) and reply.status == 200:
                        # Whatever the client kind, a 200 that is not a usable answer is a
                        # failure that can still fail over: nothing reached the caller yet.
                        reply.parsed = check_buffered_body(reply.body)
                except UpstreamFailure as failure:
                    elapsed = time.perf_counter() - t0
                    upstream_s += elapsed
                    self._release(inst.instance_id)
                    if is_retry:
                        self._retries.retry_done()
                    self._health.record(inst, failure.outcome, elapsed * 1000)
                    if failure.retry_after:
                        self._health.cool_down(inst, failure.retry_after)
                    logger.info(
                        "attempt failed",
                        extra={
                            "request_id": req.request_id,
                            "instance_id": inst.instance_id,
                            "outcome": failure.outcome,
                        },
                    )
                    last_failure = failure
                    continue
                except asyncio.CancelledError:
                    self._release(inst.instance_id)
                    if is_retry:
                        self._retries.retry_done()
                    self._health.record(inst, "cancelled", 0.0)
                    raise
                if is_retry:
                    self._retries.retry_done(succeeded=True)
                elapsed = time.perf_counter() - t0
                upstream_s += elapsed
                fallback = model != first_model
                if isinstance(reply, BufferedReply):
                    self._release(inst.instance_id)
                    self._health.record(inst, "ok", elapsed * 1000)
                    return await self._buffered(
                        req, inst, model, reply, attempts, upstream_s, fallback, on_complete
                    ), False
                ttfb_ms = elapsed * 1000
                self._health.record(inst, "ok", ttfb_ms)
                return self._streamed(
                    req,
                    inst,
                    model,
                    reply,
                    attempts,
                    upstream_s,
                    fallback,
                    wants_usage,
                    on_complete,
                ), True
        return await self._give_up(req, last_failure, attempts, on_complete), False

    def _payload(self, req: RouteRequest, model: str, inst: Instance) -> bytes:
        body = dict(req.body)
        body["model"] = inst.tags.get("upstream_model", model)
        if req.stream:
            # Always ask for usage so the ledger has real token counts; the caller only sees
            # the usage chunk when they asked for it.
            opts = dict(body.get("stream_options") or {})
            opts["include_usage"] = True
            body["stream_options"] = opts
        for key in (
            "fallback_mode",
            "preferred_model",
            "auto_select",
            "requirements",
            "routing",
            "cache",
            "save_conversation",
            "conversation_id",
        ):
            body.pop(key, None)
        return orjson.dumps(body)

    def _headers(
        self, req: RouteRequest, inst: Instance, model: str, attempts: int, upstream_s: float
    ) -> dict[str, str]:
        overhead_ms = (time.perf_counter() - req.started - upstream_s) * 1000
        headers = {
            "x-motherfluxer-model": model,
            "x-motherfluxer-version": inst.version,
            "x-motherfluxer-instance": inst.instance_id,
            "x-motherfluxer-route-reason": req.reason,
            "x-motherfluxer-overhead-ms": f"{max(0.0, overhead_ms):.3f}",
            "x-motherfluxer-attempts": str(attempts),
            "x-request-id": req.request_id,
        }
        if req.task:
            headers["x-motherfluxer-task"] = req.task
        headers.update(req.extra_headers)
        return headers

    async def _buffered(
        self,
        req: RouteRequest,
        inst: Instance,
        model: str,
        reply: BufferedReply,
        attempts: int,
        upstream_s: float,
        fallback: bool,
        on_complete: CompletionHook | None,
    ) -> Response:
        usage = None
        text: str | None = None
        body = reply.body
        obj = reply.parsed
        if obj is not None:
            usage = Usage.from_obj(obj.get("usage"))
            if req.capture_text:
                text = _answer_text(obj)
            if obj.get("model") != model:
                obj["model"] = model
                body = orjson.dumps(obj)
        elif reply.status >= 400:
            # The instance refused the request itself (e.g. too many tokens): pass its error on
            # in our shape without any upstream detail beyond its message.
            body = _normalise_client_error(body, reply.status)
        headers = self._headers(req, inst, model, attempts, upstream_s)
        outcome = Outcome(
            request_id=req.request_id,
            model=model,
            version=inst.version,
            instance_id=inst.instance_id,
            status=reply.status,
            usage=usage,
            attempts=attempts,
            latency_ms=(time.perf_counter() - req.started) * 1000,
            overhead_ms=float(headers["x-motherfluxer-overhead-ms"]),
            fallback=fallback,
            text=text,
        )
        response = Response(
            body, status_code=reply.status, media_type="application/json", headers=headers
        )
        if on_complete is not None:
            await _call(on_complete, outcome)
        return response

    def _streamed(
        self,
        req: RouteRequest,
        inst: Instance,
        model: str,
        reply: StreamReply,
        attempts: int,
        upstream_s: float,
        fallback: bool,
        wants_usage: bool,
        on_complete: CompletionHook | None,
    ) -> Response:
        headers = self._headers(req, inst, model, attempts, upstream_s)
        headers["Cache-Control"] = "no-cache"
        headers["X-Accel-Buffering"] = "no"
        overhead_ms = float(headers["x-motherfluxer-overhead-ms"])

        finished = False

        async def body() -> AsyncIterator[bytes]:
            nonlocal finished
            finished = True
            usage: Usage | None = None
            status = 200
            error_code = None
            pieces: list[str] | None = [] if req.capture_text else None
            try:
                async for event in _with_first(reply.first_event, reply.events):
                    obj = event_json(event)
                    if obj is None and is_malformed(event):
                        # Relayed, a data line that is not JSON breaks the client's parser.
                        status, error_code = 502, "upstream_malformed_stream"
                        self._health.record(inst, MALFORMED, 0.0)
                        yield error_event(
                            "upstream_error",
                            "the model instance sent a malformed stream",
                            error_code,
                        )
                        return
                    if obj is not None and isinstance(obj, dict):
                        if "error" in obj:
                            status, error_code = 502, "upstream_stream_error"
                            self._health.record(inst, "stream_error", 0.0)
                            yield error_event(
                                "upstream_error", "the model instance failed mid-stream", error_code
                            )
                            return
                        if obj.get("usage"):
                            usage = Usage.from_obj(obj.get("usage")) or usage
                        if pieces is not None:
                            pieces.append(_delta_text(obj))
                        if is_usage_only(obj) and not wants_usage:
                            continue
                        if obj.get("model") != model:
                            obj["model"] = model
                            event = b"data: " + orjson.dumps(obj) + b"\n\n"
                    yield event
            except (GeneratorExit, asyncio.CancelledError):
                # The client went away mid-stream (we were closed at a yield, or cancelled
                # while waiting on the instance); the ledger says so.
                status, error_code = 499, "client_closed"
                raise
            except UpstreamFailure as failure:
                # Bytes already reached the caller: retrying now would duplicate content, so
                # the stream ends with an error event the OpenAI SDK raises as an APIError.
                self._health.record(inst, failure.outcome, 0.0)
                status = 504 if failure.outcome in (TIMEOUT_STALL, TIMEOUT_FIRST_BYTE) else 502
                error_code = "upstream_stream_interrupted"
                yield error_event(
                    "upstream_error", "the model instance stopped mid-stream", error_code
                )
            finally:
                await settle(status, usage, error_code, None if pieces is None else "".join(pieces))

        async def settle(
            status: int, usage: Usage | None, error_code: str | None, text: str | None
        ) -> None:
            await reply.close()
            self._release(inst.instance_id)
            self._retries.end()
            if on_complete is None:
                return
            outcome = Outcome(
                request_id=req.request_id,
                model=model,
                version=inst.version,
                instance_id=inst.instance_id,
                status=status,
                usage=usage,
                attempts=attempts,
                latency_ms=(time.perf_counter() - req.started) * 1000,
                overhead_ms=overhead_ms,
                fallback=fallback,
                error_code=error_code,
                text=text if req.capture_text else None,
            )
            await _call_shielded(on_complete, outcome)

        async def abandoned() -> None:
            # The client left before the body started: Starlette never runs the generator, so
            # its cleanup (instance slot, retry budget, ledger) must happen here instead.
            if not finished:
                await settle(499, None, "client_closed", None)

        return GuardedStreamingResponse(
            body(), on_abandon=abandoned, media_type="text/event-stream", headers=headers
        )

    async def _give_up(
        self,
        req: RouteRequest,
        failure: UpstreamFailure | None,
        attempts: int,
        on_complete: CompletionHook | None,
        *,
        budget: bool = False,
    ) -> Response:
        err: APIError
        if failure is None:
            err = ServiceUnavailable(
                "no healthy instance can serve this request right now",
                headers={"Retry-After": "1"},
            )
        elif budget:
            err = ServiceUnavailable(
                "upstream instances are failing and the retry budget is spent",
                code="retry_budget_exhausted",
                headers={"Retry-After": "1"},
            )
        elif failure.outcome in (TIMEOUT_CONNECT, TIMEOUT_FIRST_BYTE, TIMEOUT_STALL):
            err = UpstreamTimeout("the model instance did not answer in time")
        elif failure.outcome == "http_429":
            err = APIError(
                # The provider's (or instance's) limit, not ours: ours is `rate_limited`.
                "the upstream provider is rate limiting or overloaded; retry later",
                code="upstream_rate_limited",
                status=429,
                headers={"Retry-After": str(max(1, round(failure.retry_after or 1)))},
            )
            err.type = "rate_limit_error"
        else:
            err = UpstreamError("the model instance failed to answer", code="upstream_failed")
        headers = {
            "x-motherfluxer-route-reason": req.reason,
            "x-motherfluxer-attempts": str(attempts),
            "x-request-id": req.request_id,
        }
        if req.task:
            headers["x-motherfluxer-task"] = req.task
        if on_complete is not None:
            await _call(
                on_complete,
                Outcome(
                    request_id=req.request_id,
                    model=None,
                    version=None,
                    instance_id=None,
                    status=err.status,
                    usage=None,
                    attempts=attempts,
                    latency_ms=(time.perf_counter() - req.started) * 1000,
                    overhead_ms=0.0,
                    fallback=False,
                    error_code=err.code,
                ),
            )
        return error_response(err, headers)


def _answer_text(obj: dict[str, Any]) -> str:
    choice = (obj.get("choices") or [{}])[0]
    if not isinstance(choice, dict):
        return ""
    message = choice.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        return message["content"]
    return choice.get("text") if isinstance(choice.get("text"), str) else ""


def _delta_text(obj: dict[str, Any]) -> str:
    choices = obj.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    delta = choices[0].get("delta")
    if isinstance(delta, dict) and isinstance(delta.get("content"), str):
        return delta["content"]
    return choices[0].get("text") if isinstance(choices[0].get("text"), str) else ""


async def _with_first(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for event in rest:
        yield event


_COMPLETING: set[asyncio.Task[None]] = set()


async def _call_shielded(hook: CompletionHook, outcome: Outcome) -> None:
    """Run the completion hook to the end even if the client's disconnect cancels us.

    Starlette cancels a streaming response's task when the client hangs up; the usage record
    and the budget settlement must not be cancelled with it. The task is kept referenced so
    the event loop cannot drop it half-way.
    """
    task = asyncio.ensure_future(_call(hook, outcome))
    _COMPLETING.add(task)
    task.add_done_callback(_COMPLETING.discard)
    await asyncio.shield(task)


async def _call(hook: CompletionHook, outcome: Outcome) -> None:
    try:
        result = hook(outcome)
        if asyncio.iscoroutine(result):
            await result
    except Exception:
        logger.exception("completion hook failed for request %s", outcome.request_id)


def _normalise_client_error(body: bytes, status: int) -> bytes:
    message = "the model instance rejected the request"
    param = None
    try:
        obj = orjson.loads(body)
        inner = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            message = inner["message"][:500]
        if isinstance(inner, dict) and isinstance(inner.get("param"), str):
            param = inner["param"][:200]
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return orjson.dumps(
        {
            "error": {
                "type": "invalid_request_error",
                "message": message,
                "param": param,
                "code": f"upstream_{status}",
            }
        }
    )
