"""Upstream client for SageMaker endpoints running our container (`/invocations` contract).

boto3 is synchronous, so calls run in a worker thread; the streamed variant pumps the event
stream through a queue so the event loop never blocks on the network.

An endpoint that hosts an inference component is called with its name
(`InferenceComponentName`). A component scaled to zero answers every call with a
ValidationError ("Inference Component has no capacity ..."), and that failed call is what
emits `NoCapacityInvocationFailures`, the alarm that adds a copy (infra/sagemaker_components.py).
The client reports it as a refused attempt with a Retry-After of the model's wake time: the
dispatcher fails over to the request's fallbacks, or answers 503 with that Retry-After, and
keeps this process away from the sleeping endpoint meanwhile; the health checker then marks
the instance out of rotation and router/wake.py takes over, as for ECS models.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from contracts import env
from router.upstream.base import (
    CONN_REFUSED,
    CONN_RESET,
    HTTP_5XX,
    HTTP_429,
    MALFORMED,
    TIMEOUT_FIRST_BYTE,
    TIMEOUT_STALL,
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamFailure,
    check_first_event,
)
from routing.instances import Instance

_END = object()
# A component's wake time when neither its tags nor the stack's map give one.
DEFAULT_WAKE_SECONDS = 600
COMPONENT_TAG = "inference_component"
WAKE_TAG = "wake_seconds"


@dataclass(frozen=True, slots=True)
class Component:
    """The inference component an endpoint hosts, and how long it takes to wake from zero."""

    name: str
    wake_seconds: float = DEFAULT_WAKE_SECONDS


def parse_components(raw: Mapping[str, Any]) -> dict[str, Component]:
    """MOTHERFLUXER_SAGEMAKER_COMPONENTS: endpoint -> {"component", "wake_seconds"}."""
    out: dict[str, Component] = {}
    for endpoint, spec in raw.items():
        if isinstance(spec, str):
            out[endpoint] = Component(spec)
        elif isinstance(spec, Mapping) and spec.get("component"):
            wake = float(spec.get("wake_seconds") or DEFAULT_WAKE_SECONDS)
            out[endpoint] = Component(str(spec["component"]), wake)
    return out


def components_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Component]:
    return parse_components(env.json_object(env.SAGEMAKER_COMPONENTS, environ))


def component_of(instance: Instance, components: Mapping[str, Component]) -> Component | None:
    """The instance's own tags win (a registered instance says what it is), else the map."""
    name = instance.tags.get(COMPONENT_TAG)
    known = components.get(instance.endpoint)
    if name:
        wake = instance.tags.get(WAKE_TAG)
        default = known.wake_seconds if known else DEFAULT_WAKE_SECONDS
        return Component(name, float(wake) if wake else default)
    return known


class SageMakerClient:
    def __init__(
        self,
        *,
        region: str,
        endpoint_url: str | None = None,
        components: Mapping[str, Component] | None = None,
    ) -> None:
        self._region = region
        self._endpoint_url = endpoint_url
        self._components = dict(components or {})
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self, timeouts: Timeouts) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                self._client = boto3.client(
                    "sagemaker-runtime",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    # Retries belong to the router's dispatcher alone (one layer).
                    config=Config(
                        retries={"total_max_attempts": 1},
                        connect_timeout=timeouts.connect,
                        read_timeout=max(timeouts.first_byte, timeouts.stall),
                    ),
                )
            return self._client

    async def aclose(self) -> None:
        return None

    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
    ) -> BufferedReply | StreamReply:
        # The container serves OpenAI bodies on /invocations; the path tells it which shape.
        client = self._get_client(timeouts)
        custom = "completions" if path.endswith("/completions") and "chat" not in path else "chat"
        component = component_of(instance, self._components)
        target: dict[str, str] = {"EndpointName": instance.endpoint}
        if component is not None:
            target["InferenceComponentName"] = component.name
        if not stream:
            try:
                resp = await asyncio.wait_for(
                    asyncio.to_thread(
                        client.invoke_endpoint,
                        **target,
                        ContentType="application/json",
                        Accept="application/json",
                        CustomAttributes=f"route={custom}",
                        Body=payload,
                    ),
                    timeout=timeouts.total,
                )
            except TimeoutError:
                raise UpstreamFailure(
                    TIMEOUT_FIRST_BYTE, "endpoint did not answer in time"
                ) from None
            except Exception as exc:
                raise _translate(exc, component) from None
            body = resp["Body"].read()
            return BufferedReply(
                status=200, body=body, content_type=resp.get("ContentType", "application/json")
            )

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=64)
        stop = threading.Event()

        def pump() -> None:
            try:
                resp = client.invoke_endpoint_with_response_stream(
                    **target,
                    ContentType="application/json",
                    Accept="text/event-stream",
                    CustomAttributes=f"route={custom}",
                    Body=payload,
                )
                for event in resp["Body"]:
                    if stop.is_set():
                        break
                    part = event.get("PayloadPart", {}).get("Bytes")
                    if part:
                        asyncio.run_coroutine_threadsafe(queue.put(part), loop).result()
                    elif "ModelStreamError" in event or "InternalStreamFailure" in event:
                        raise UpstreamFailure(CONN_RESET, "endpoint stream failed")
            except Exception as exc:
                err = exc if isinstance(exc, UpstreamFailure) else _translate(exc, component)
                with contextlib.suppress(RuntimeError):
                    asyncio.run_coroutine_threadsafe(queue.put(err), loop).result()
                return
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(queue.put(_END), loop).result()

        thread = threading.Thread(target=pump, name="sagemaker-stream", daemon=True)
        thread.start()
        splitter = _EventSplitter()

        async def next_event(timeout: float, outcome: str) -> bytes | None:
            while True:
                ready = splitter.pop()
                if ready is not None:
                    return ready
                try:
                    item = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    raise UpstreamFailure(outcome, "endpoint stream stalled") from None
                if item is _END:
                    if splitter.pending:
                        raise UpstreamFailure(CONN_RESET, "stream ended inside an event")
                    return None
                if isinstance(item, Exception):
                    raise item
                splitter.feed(item)

        first = await next_event(timeouts.first_byte, TIMEOUT_FIRST_BYTE)
        if first is None:
            raise UpstreamFailure(MALFORMED, "stream ended before its first event")
        check_first_event(first)

        async def rest() -> AsyncIterator[bytes]:
            try:
                while True:
                    event = await next_event(timeouts.stall, TIMEOUT_STALL)
                    if event is None:
                        return
                    yield event
            finally:
                stop.set()

        async def close() -> None:
            stop.set()

        return StreamReply(first_event=first, events=rest(), close=close)


class _EventSplitter:
    """Re-frames arbitrary payload parts into whole SSE events."""

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> None:
        self._buf += data

    def pop(self) -> bytes | None:
        idx = self._buf.find(b"\n\n")
        if idx < 0:
            return None
        event, self._buf = self._buf[: idx + 2], self._buf[idx + 2 :]
        return event

    @property
    def pending(self) -> bool:
        return bool(self._buf.strip())


def no_capacity(code: str, message: str) -> bool:
    """A component with no copy: SageMaker's ValidationError "... has no capacity to process
    this request. ApplicationAutoScaling may be in-progress ..."."""
    return code == "ValidationError" and "no capacity" in message.lower()


def _translate(exc: Exception, component: Component | None = None) -> UpstreamFailure:
    code = ""
    message = ""
    status = None
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        message = str(response.get("Error", {}).get("Message", ""))
        status = response.get("OriginalStatusCode") or response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode"
        )
    if no_capacity(code, message):
        wake = component.wake_seconds if component is not None else DEFAULT_WAKE_SECONDS
        # Refused, not broken: nobody could take it. The Retry-After is the wake time.
        return UpstreamFailure(
            CONN_REFUSED, "inference component has no copy; waking", retry_after=wake
        )
    if code in ("ThrottlingException", "TooManyRequestsException") or status == 429:
        return UpstreamFailure(HTTP_429, "endpoint throttled", status=429)
    if "Timeout" in type(exc).__name__:
        return UpstreamFailure(TIMEOUT_FIRST_BYTE, "endpoint timed out")
    return UpstreamFailure(
        HTTP_5XX, "endpoint error", status=status if isinstance(status, int) else 502
    )
