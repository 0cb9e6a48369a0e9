"""The HTTP surface: SageMaker contract, OpenAI-compatible API, health and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from model_server import __version__
from model_server.config import Settings
from model_server.errors import ApiError, describe_validation, install_error_handlers
from model_server.metrics import Metrics
from model_server.openai_format import ChunkWriter, Kind, completion_body, new_id, sse
from model_server.protocol import GenerationError, GenerationEvent, GenerationJob, GenerationParams
from model_server.registration import RouterRegistration
from model_server.schemas import (
    ChatCompletionRequest,
    CompletionRequest,
    HFRequest,
    _Sampling,
)
from model_server.supervisor import BackendSupervisor, BackendUnavailable

log = logging.getLogger(__name__)

KNOWN_PATHS = {
    "/ping",
    "/invocations",
    "/health",
    "/metrics",
    "/v1/models",
    "/v1/chat/completions",
    "/v1/completions",
}
FAULTS = {
    "crash_now",
    "crash_on_next_request",
    "hang_on_next_request",
    "slow_next_request",
    "delay_next_request",
}


class ServerState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.supervisor = BackendSupervisor(settings)
        self.metrics = Metrics()
        self.started = time.monotonic()
        self.created = int(time.time())
        self.in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False
        self.registration: RouterRegistration | None = None
        self._drained: asyncio.Task[None] | None = None

    def request_started(self) -> None:
        self.in_flight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self._idle.set()

    @property
    def demo(self) -> bool:
        info = self.supervisor.info
        if info is not None:
            return info.demo
        s = self.settings
        if s.backend in ("tiny", "echo"):
            return True
        return s.backend == "auto" and not s.model_id and not s.model_path

    @property
    def backend_name(self) -> str:
        info = self.supervisor.info
        if info is not None:
            return info.backend
        if self.settings.backend != "auto":
            return self.settings.backend
        return "tiny" if self.demo else "transformers"

    @property
    def ready(self) -> bool:
        return self.supervisor.ready and not self.draining

    def heartbeat_status(self) -> dict[str, Any]:
        return {
            "in_flight": self.in_flight,
            "queue_depth": max(0, self.supervisor.outstanding - 1),
            "tokens_per_second": round(self.metrics.tokens_per_second, 3),
            "ready": self.ready,
        }

    async def drain(self) -> None:
        """Stop taking work, let running requests finish (bounded), then leave the router."""
        if self._drained is None:
            self._drained = asyncio.ensure_future(self._drain())
        await asyncio.shield(self._drained)

    async def _drain(self) -> None:
        self.draining = True
        log.info("draining: waiting for %d in-flight request(s)", self.in_flight)
        if self.in_flight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle.wait(), self.settings.drain_timeout_s)
        if self.in_flight:
            log.warning("drain timeout: %d request(s) still running", self.in_flight)
        if self.registration is not None:
            await self.registration.deregister()


class ServerHeaders:
    """Labels every response with the model it came from and counts requests by status."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in KNOWN_PATHS else "other"
        status = [500]

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["x-model-name"] = self.state.settings.served_model_name
                headers["x-model-version"] = self.state.settings.model_version
                if self.state.demo:
                    headers["x-model-demo"] = "true"
            await send(message)

        try:
            await self.app(scope, receive, labelled_send)
        finally:
            self.state.metrics.count_request(endpoint, status[0])


async def _read_json(request: Request, limit: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, f"request body exceeds {limit} bytes", "body_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > limit:
            raise ApiError(413, f"request body exceeds {limit} bytes", "body_too_large")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "request body is not valid JSON", "invalid_json") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object", "invalid_json")
    return body


def _validate(model: type[Any], body: dict[str, Any]) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise ApiError(422, describe_validation(exc), "invalid_parameters") from exc


def _params(
    settings: Settings, req: _Sampling, max_tokens: int | None, default_temperature: float = 1.0
) -> GenerationParams:
    wanted = max_tokens or settings.default_max_tokens
    if wanted > settings.max_tokens_limit:
        raise ApiError(
            422,
            f"max_tokens must be at most {settings.max_tokens_limit}",
            "invalid_parameters",
        )
    return GenerationParams(
        max_tokens=wanted,
        temperature=default_temperature if req.temperature is None else req.temperature,
        top_p=1.0 if req.top_p is None else req.top_p,
        seed=req.seed,
        stop=req.stop_list(),
    )


class _Outcome:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.last: GenerationEvent | None = None


def _generation_error(exc: GenerationError) -> ApiError:
    if exc.kind == "context_length_exceeded":
        return ApiError(400, str(exc), "context_length_exceeded")
    return ApiError(500, "the model backend failed to generate", "backend_error")


def _unavailable(exc: BackendUnavailable) -> ApiError:
    return ApiError(503, str(exc), "backend_unavailable", retry_after=1)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.supervisor.start()
        # Behind a SageMaker endpoint the endpoint is the unit the router routes to; the
        # health checker registers it, so the containers inside it do not register themselves.
        if settings.router_url and settings.instance_kind != "sagemaker":
            state.registration = RouterRegistration(
                settings, state.heartbeat_status, state.supervisor.wait_ready
            )
            state.registration.start()
        try:
            yield
        finally:
            if state.registration is not None:
                await state.registration.deregister()
            await state.supervisor.stop()

    app = FastAPI(
        title="MotherFluxer model server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.server = state
    install_error_handlers(app)
    app.add_middleware(ServerHeaders, state=state)

    def admit() -> None:
        if state.draining:
            raise ApiError(503, "server is draining", "draining", retry_after=1)
        if not state.supervisor.ready:
            raise ApiError(503, "model backend is not ready", "backend_not_ready", retry_after=1)
        if state.supervisor.outstanding >= settings.max_queue:
            raise ApiError(503, "server is at capacity", "overloaded", retry_after=1)

    async def run_buffered(endpoint: str, job: GenerationJob) -> _Outcome:
        admit()
        outcome = _Outcome()
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
            raise _unavailable(exc) from exc
        except GenerationError as exc:
            raise _generation_error(exc) from exc
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

    async def run_streamed(
        endpoint: str, job: GenerationJob, writer: ChunkWriter
    ) -> StreamingResponse:
        admit()
        started = time.monotonic()
        events = state.supervisor.generate(job)
        state.request_started()
        try:
            # The first event is awaited before answering, so a backend that is gone still
            # gets a proper 503 status rather than a 200 stream that breaks.
            head = await anext(events)
        except BaseException as exc:
            state.request_finished()
            await events.aclose()
            if isinstance(exc, BackendUnavailable):
                raise _unavailable(exc) from exc
            if isinstance(exc, GenerationError):
                raise _generation_error(exc) from exc
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
                        yield writer.content(event.text)
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
                yield sse(_unavailable(exc).body())
            except GenerationError as exc:
                yield sse(_generation_error(exc).body())
            finally:
                await release()

        return StreamingResponse(
            body(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            background=BackgroundTask(release),
        )

    def fingerprint() -> str:
        return f"{state.backend_name}-{settings.model_version}"

    async def chat(endpoint: str, body: dict[str, Any]) -> Response:
        req: ChatCompletionRequest = _validate(ChatCompletionRequest, body)
        try:
            messages = [{"role": m.role, "content": m.text()} for m in req.messages]
        except ValueError as exc:
            raise ApiError(400, str(exc), "unsupported_content") from exc
        job = GenerationJob(
            params=_params(settings, req, req.max_completion_tokens or req.max_tokens),
            messages=messages,
        )
        return await respond(endpoint, job, "chat", req.stream, req.include_usage)

    async def completion(endpoint: str, body: dict[str, Any]) -> Response:
        req: CompletionRequest = _validate(CompletionRequest, body)
        job = GenerationJob(params=_params(settings, req, req.max_tokens), prompt=req.prompt_text())
        return await respond(endpoint, job, "text", req.stream, req.include_usage)

    async def respond(
        endpoint: str, job: GenerationJob, kind: Kind, stream: bool, include_usage: bool
    ) -> Response:
        name = settings.served_model_name
        if stream:
            writer = ChunkWriter(kind, name, fingerprint(), include_usage, new_id(kind))
            return await run_streamed(endpoint, job, writer)
        outcome = await run_buffered(endpoint, job)
        last = outcome.last
        assert last is not None and last.finish_reason is not None
        return JSONResponse(
            completion_body(
                kind,
                response_id=new_id(kind),
                model=name,
                text="".join(outcome.text),
                finish_reason=last.finish_reason,
                prompt_tokens=last.prompt_tokens,
                completion_tokens=last.completion_tokens,
                fingerprint=fingerprint(),
            )
        )

    async def hf_generate(endpoint: str, body: dict[str, Any]) -> Response:
        req: HFRequest = _validate(HFRequest, body)
        p = req.parameters
        # Hugging Face semantics: greedy unless sampling is asked for.
        sampling = p.do_sample if p.do_sample is not None else p.temperature not in (None, 0)
        wanted = p.max_new_tokens or settings.default_max_tokens
        if wanted > settings.max_tokens_limit:
            raise ApiError(
                422,
                f"max_new_tokens must be at most {settings.max_tokens_limit}",
                "invalid_parameters",
            )
        params = GenerationParams(
            max_tokens=wanted,
            temperature=(p.temperature or 1.0) if sampling else 0.0,
            top_p=p.top_p or 1.0,
            seed=p.seed,
            stop=tuple(p.stop or ()),
        )
        job = GenerationJob(params=params, prompt=req.inputs)
        if req.stream:
            writer = ChunkWriter(
                "text", settings.served_model_name, fingerprint(), False, new_id("text")
            )
            return await run_streamed(endpoint, job, writer)
        outcome = await run_buffered(endpoint, job)
        text = "".join(outcome.text)
        return JSONResponse(
            [{"generated_text": (req.inputs + text) if p.return_full_text else text}]
        )

    @app.get("/ping")
    async def ping() -> Response:
        if state.ready:
            return JSONResponse({"status": "ready"})
        status = "draining" if state.draining else "starting"
        return JSONResponse({"status": status}, status_code=503)

    @app.get("/health")
    async def health() -> Response:
        sup = state.supervisor
        if state.draining:
            status = "draining"
        elif sup.ready:
            status = "ok"
        else:
            status = "restarting" if sup.restarts else "starting"
        reg = state.registration
        body = {
            "status": status,
            "model": settings.served_model_name,
            "version": settings.model_version,
            "backend": state.backend_name,
            "demo": state.demo,
            "uptime_s": round(time.monotonic() - state.started, 3),
            "in_flight": state.in_flight,
            "queue_depth": max(0, sup.outstanding - 1),
            "restarts": sup.restarts,
            "backend_pid": sup.pid,
            "last_error": sup.last_error,
            "context_window": sup.info.context_window if sup.info else None,
            "tokens_per_second": round(state.metrics.tokens_per_second, 3),
            "registered": bool(reg and reg.instance_id),
            "instance_id": reg.instance_id if reg else None,
            "server_version": __version__,
        }
        return JSONResponse(body, status_code=200 if state.ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        sup = state.supervisor

        def gauges() -> dict[str, tuple[str, float]]:
            return {
                "model_server_in_flight": ("gauge", state.in_flight),
                "model_server_queue_depth": ("gauge", max(0, sup.outstanding - 1)),
                "model_server_backend_ready": ("gauge", 1 if sup.ready else 0),
                "model_server_backend_restarts_total": ("counter", sup.restarts),
                "model_server_tokens_per_second": ("gauge", state.metrics.tokens_per_second),
                "model_server_uptime_seconds": ("gauge", time.monotonic() - state.started),
            }

        info = {
            "model": settings.served_model_name,
            "version": settings.model_version,
            "backend": state.backend_name,
            "demo": str(state.demo).lower(),
        }
        return PlainTextResponse(
            state.metrics.render(gauges, info), media_type="text/plain; version=0.0.4"
        )

    @app.get("/v1/models")
    async def models() -> Response:
        entry = {
            "id": settings.served_model_name,
            "object": "model",
            "created": state.created,
            "owned_by": "motherfluxer",
            "version": settings.model_version,
            "backend": state.backend_name,
            "demo": state.demo,
            "ready": state.ready,
        }
        return JSONResponse({"object": "list", "data": [entry]})

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        return await chat(
            "/v1/chat/completions", await _read_json(request, settings.max_body_bytes)
        )

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        return await completion(
            "/v1/completions", await _read_json(request, settings.max_body_bytes)
        )

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        body = await _read_json(request, settings.max_body_bytes)
        if "messages" in body:
            return await chat("/invocations", body)
        if "prompt" in body:
            return await completion("/invocations", body)
        if "inputs" in body:
            return await hf_generate("/invocations", body)
        raise ApiError(422, "body must have one of: messages, prompt, inputs", "invalid_parameters")

    if settings.enable_faults:

        @app.post("/debug/faults/{kind}")
        async def inject_fault(kind: str) -> Response:
            # Test-only hook, enabled by MODEL_SERVER_ENABLE_FAULTS=1; absent otherwise.
            if kind not in FAULTS:
                raise ApiError(404, "unknown fault", "not_found")
            state.supervisor.inject_fault(kind)
            return JSONResponse({"injected": kind})

    return app
