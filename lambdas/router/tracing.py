"""Optional OpenTelemetry tracing: a span per request and one per upstream attempt, with the
GenAI semantic-convention attributes, exported over OTLP/HTTP.

Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; when off, nothing of OpenTelemetry is
imported (a Lambda cold start pays nothing) and every hook is a no-op. The exporter reads the
standard `OTEL_EXPORTER_OTLP_*` variables itself (endpoint + `/v1/traces`, headers, timeout).

In Lambda the environment freezes as soon as an invocation's response is complete, and the
batch processor's timer thread freezes with it: spans would leave late (at the next thaw) or
never (the environment is reaped). So in Lambda, `FlushAtResponseEnd` exports them just
before the last body message of each response: after the span has ended (the record step
runs before the body's end, for a stream after its last event), while the invocation is
still open. One export per request, in a worker thread so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

from contracts import env

SERVICE_NAME = "motherfluxer-router"
# GenAI semantic-convention attribute names.
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
PROVIDER = "gen_ai.provider.name"
OPERATION = "gen_ai.operation.name"

_tracer: Any = None
_provider: Any = None


def enabled() -> bool:
    return bool(os.environ.get(env.OTEL_EXPORTER_OTLP_ENDPOINT))


def _get_tracer() -> Any:
    """The process's tracer, built on first use (imports OpenTelemetry only then)."""
    global _tracer, _provider
    if _tracer is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        name = os.environ.get("OTEL_SERVICE_NAME") or SERVICE_NAME
        _provider = TracerProvider(resource=Resource.create({"service.name": name}))
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _tracer = _provider.get_tracer("motherfluxer.router")
    return _tracer


def flush(timeout_ms: int = 5000) -> None:
    """Send what is buffered now (a Lambda may freeze right after answering)."""
    if _provider is not None:
        _provider.force_flush(timeout_ms)


# How long the end of a response may wait for the collector in Lambda.
LAMBDA_FLUSH_TIMEOUT_MS = 2000

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def in_lambda() -> bool:
    return bool(os.environ.get(env.LAMBDA_FUNCTION_NAME))


class FlushAtResponseEnd:
    """ASGI middleware: export the spans before each HTTP response's final body message.

    Pure ASGI (not BaseHTTPMiddleware) so that streamed responses pass through untouched.
    """

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not enabled():
            await self.app(scope, receive, send)
            return

        async def send_after_flush(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                await asyncio.to_thread(flush, LAMBDA_FLUSH_TIMEOUT_MS)
            await send(message)

        await self.app(scope, receive, send_after_flush)


def install(app: Any) -> None:
    """Add the flush to an app that runs in Lambda (Mangum or the Web Adapter); elsewhere the
    batch processor's own timer exports, off every response."""
    if in_lambda():
        app.add_middleware(FlushAtResponseEnd)


def provider_name(kind: str, tags: dict[str, str]) -> str:
    if tags.get("provider"):
        return tags["provider"]
    return {"sagemaker": "aws.sagemaker"}.get(kind, "motherfluxer")


def _set_usage(span: Any, usage: Any) -> None:
    if usage is None:
        return
    span.set_attribute(INPUT_TOKENS, int(usage.prompt_tokens))
    span.set_attribute(OUTPUT_TOKENS, int(usage.completion_tokens))


class RequestTrace:
    """The span of one request; it ends when the record step sees the outcome (for a stream,
    after its last event), or on a failure before dispatch."""

    def __init__(self, span: Any) -> None:
        self._span = span
        self._ended = False

    @contextmanager
    def active(self) -> Iterator[None]:
        """Makes the request span the parent of the attempt spans started inside."""
        from opentelemetry import trace

        with trace.use_span(self._span, end_on_exit=False):
            yield

    def finish(self, outcome: Any) -> None:
        """`outcome`: a DispatchOutcome."""
        if self._ended:
            return
        self._ended = True
        span = self._span
        if outcome.model:
            span.set_attribute(RESPONSE_MODEL, outcome.model)
        _set_usage(span, outcome.usage)
        span.set_attribute("http.response.status_code", int(outcome.status))
        span.set_attribute("motherfluxer.attempts", int(outcome.attempts))
        span.set_attribute("motherfluxer.fallback", bool(outcome.fallback))
        if outcome.status >= 500:
            from opentelemetry.trace import Status, StatusCode

            span.set_status(Status(StatusCode.ERROR, outcome.error_code or str(outcome.status)))
        span.end()

    def finish_cached(self, model: str | None) -> None:
        if self._ended:
            return
        self._ended = True
        if model:
            self._span.set_attribute(RESPONSE_MODEL, model)
        self._span.set_attribute("motherfluxer.cache_hit", True)
        self._span.end()

    def fail(self, exc: BaseException) -> None:
        if self._ended:
            return
        self._ended = True
        from opentelemetry.trace import Status, StatusCode

        status = getattr(exc, "status", None)
        if isinstance(status, int):
            self._span.set_attribute("http.response.status_code", status)
        self._span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self._span.end()


class _NoTrace:
    """What the hooks get while tracing is off: does nothing, imports nothing."""

    @contextmanager
    def active(self) -> Iterator[None]:
        yield

    def finish(self, outcome: Any) -> None:
        pass

    def finish_cached(self, model: str | None) -> None:
        pass

    def fail(self, exc: BaseException) -> None:
        pass


NO_TRACE = _NoTrace()
Trace = RequestTrace | _NoTrace


def start_request(request_id: str, requested_model: Any, path: str) -> Trace:
    if not enabled():
        return NO_TRACE
    model = requested_model if isinstance(requested_model, str) else "auto"
    span = _get_tracer().start_span(
        f"chat {model}",
        attributes={
            OPERATION: "chat",
            REQUEST_MODEL: model,
            "url.path": path,
            "motherfluxer.request_id": request_id,
        },
    )
    return RequestTrace(span)


@contextmanager
def attempt_span(model: str, kind: str, tags: dict[str, str], instance_id: str) -> Iterator[Any]:
    """One upstream attempt, a child of the request span; yields None while tracing is off.
    The caller sets the answer's model and usage with `attempt_answered` where it has them."""
    if not enabled():
        yield None
        return
    from opentelemetry.trace import SpanKind, Status, StatusCode

    with _get_tracer().start_as_current_span(
        f"chat {model}",
        kind=SpanKind.CLIENT,
        attributes={
            OPERATION: "chat",
            REQUEST_MODEL: model,
            PROVIDER: provider_name(kind, tags),
            "motherfluxer.instance_id": instance_id,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield span
        except BaseException as exc:
            outcome = getattr(exc, "outcome", None)
            span.set_status(Status(StatusCode.ERROR, str(outcome or type(exc).__name__)))
            raise


def attempt_answered(span: Any, parsed: Any) -> None:
    """Response model and token usage from a buffered OpenAI-shaped body."""
    if span is None or not isinstance(parsed, dict):
        return
    if isinstance(parsed.get("model"), str):
        span.set_attribute(RESPONSE_MODEL, parsed["model"])
    usage = parsed.get("usage")
    if isinstance(usage, dict):
        for key, attr in (("prompt_tokens", INPUT_TOKENS), ("completion_tokens", OUTPUT_TOKENS)):
            if isinstance(usage.get(key), int):
                span.set_attribute(attr, usage[key])


def shutdown() -> None:
    """Export what is left and forget the tracer (process exit; tests that change endpoint)."""
    global _tracer, _provider
    if _provider is not None:
        _provider.shutdown()
    _tracer = _provider = None
