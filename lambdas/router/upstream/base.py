"""What every upstream client returns, and the one failure type the dispatcher understands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from routing.instances import Instance
from routing.outcome import Outcome

# The clients name outcomes through these aliases of the routing library's one enum.
HTTP_5XX = Outcome.http_5xx
HTTP_429 = Outcome.http_429
TIMEOUT_CONNECT = Outcome.timeout_connect
TIMEOUT_FIRST_BYTE = Outcome.timeout_first_byte
TIMEOUT_STALL = Outcome.timeout_stall
CONN_REFUSED = Outcome.conn_refused
CONN_RESET = Outcome.conn_reset
MALFORMED = Outcome.malformed
STREAM_ERROR = Outcome.stream_error


class UpstreamFailure(Exception):
    """An attempt that failed in a way another instance might not.

    `outcome` is a `routing.retry.Outcome`; `status` the upstream HTTP status if one arrived;
    `retry_after` the upstream's Retry-After in seconds when it gave one.
    """

    def __init__(
        self,
        outcome: Outcome | str,
        detail: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.outcome = Outcome(outcome)
        super().__init__(f"{self.outcome}: {detail}" if detail else str(self.outcome))
        self.detail = detail
        self.status = status
        self.retry_after = retry_after


@dataclass(slots=True)
class Timeouts:
    connect: float
    first_byte: float
    stall: float
    total: float


@dataclass(slots=True)
class BufferedReply:
    """A complete upstream answer (2xx, or a 4xx that is the caller's fault)."""

    status: int
    body: bytes
    content_type: str = "application/json"
    # The body as JSON, once the dispatcher has checked it (parsed a single time).
    parsed: dict[str, Any] | None = None


@dataclass(slots=True)
class StreamReply:
    """An upstream stream whose first SSE event has already arrived and looked sane.

    `events` yields the remaining raw SSE events (each ending in a blank line); it raises
    UpstreamFailure when the stream stalls, drops or turns malformed after the first event.
    """

    first_event: bytes
    events: AsyncIterator[bytes]
    close: Callable[[], Awaitable[None]]
    headers: Mapping[str, str] = field(default_factory=dict)


class UpstreamClient(Protocol):
    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
    ) -> BufferedReply | StreamReply: ...

    async def aclose(self) -> None: ...


def check_first_event(event: bytes) -> None:
    """Reject a first SSE event that is an error report or not an SSE data line at all.

    Only the first event is inspected this closely: before it is sent nothing has reached the
    client, so a bad start can still fail over to another instance.
    """
    for line in event.splitlines():
        if not line or line.startswith(b":"):
            continue
        if not line.startswith(b"data:"):
            if line.startswith((b"event:", b"id:", b"retry:")):
                continue
            raise UpstreamFailure(MALFORMED, "stream did not start with an SSE event")
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamFailure(MALFORMED, "first SSE event is not JSON") from None
        if isinstance(obj, dict) and "error" in obj:
            raise UpstreamFailure(STREAM_ERROR, "upstream reported an error in the stream")
        return
    raise UpstreamFailure(MALFORMED, "empty first SSE event")


def check_buffered_body(body: bytes) -> dict[str, Any]:
    """Reject a 200 answer that is not a JSON object, or that is an error report.

    Such an answer has not reached the client yet, so it can still fail over; passed through,
    it would be a "successful" reply the client cannot use.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise UpstreamFailure(MALFORMED, "reply is not JSON") from None
    if not isinstance(obj, dict):
        raise UpstreamFailure(MALFORMED, "reply is not a JSON object")
    if "error" in obj:
        raise UpstreamFailure(STREAM_ERROR, "upstream reported an error with status 200")
    return obj


def upstream_model(instance: Instance, body: Mapping[str, Any]) -> str:
    """The provider's model id: the body's own, else the instance's tag or routed name."""
    return str(body.get("model") or instance.tags.get("upstream_model") or instance.model)
