"""Amazon Bedrock Converse / ConverseStream through boto3 `bedrock-runtime` (SigV4, role creds).

boto3 is synchronous, so each call (and each stream event) runs in a worker thread. botocore's
own retries are off: retrying happens once, in the dispatcher. Model ids, including
cross-region inference profile ids (`us.anthropic...`), come from the instance's
`upstream_model`; `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (read by boto3 itself) redirects it,
as does an instance endpoint when one is configured.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson

from router.translate import bedrock as translate
from router.translate.common import SSE_DONE, TranslationError, sse
from router.upstream.base import (
    CONN_REFUSED,
    CONN_RESET,
    HTTP_5XX,
    HTTP_429,
    STREAM_ERROR,
    TIMEOUT_CONNECT,
    TIMEOUT_FIRST_BYTE,
    TIMEOUT_STALL,
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamFailure,
    upstream_model,
)
from router.upstream.images import ImageError, ImageFetcher, inline_remote_images
from router.upstream.provider_http import client_error
from router.upstream.ratelimit_headers import header_retry_after
from routing.instances import Instance

THROTTLED = {"ThrottlingException", "throttlingException", "TooManyRequestsException"}
OVERLOADED = {
    "ServiceUnavailableException",
    "serviceUnavailableException",
    "ModelNotReadyException",
}
CALLER_FAULT = {"ValidationException", "validationException"}
_END = object()


def _failure(exc: Exception, first_byte: bool = True) -> UpstreamFailure:
    from botocore.exceptions import (
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        meta = exc.response.get("ResponseMetadata", {})
        status = int(meta.get("HTTPStatusCode") or 500)
        retry_after = header_retry_after(meta.get("HTTPHeaders") or {})
        if code in THROTTLED:
            return UpstreamFailure(HTTP_429, code, status=429, retry_after=retry_after)
        if code in OVERLOADED:
            return UpstreamFailure(HTTP_429, code, status=503, retry_after=retry_after)
        if code in ("ModelTimeoutException", "modelTimeoutException"):
            return UpstreamFailure(TIMEOUT_FIRST_BYTE if first_byte else TIMEOUT_STALL, code)
        if not first_byte:
            return UpstreamFailure(STREAM_ERROR, code)
        return UpstreamFailure(HTTP_5XX, code, status=status)
    if isinstance(exc, ConnectTimeoutError):
        return UpstreamFailure(TIMEOUT_CONNECT, "connect timed out")
    if isinstance(exc, ReadTimeoutError):
        return UpstreamFailure(TIMEOUT_FIRST_BYTE if first_byte else TIMEOUT_STALL, "timed out")
    if isinstance(exc, EndpointConnectionError):
        return UpstreamFailure(CONN_REFUSED, "could not connect")
    return UpstreamFailure(CONN_RESET if not first_byte else HTTP_5XX, type(exc).__name__)


class BedrockClient:
    def __init__(self, images: ImageFetcher | None = None, region: str | None = None) -> None:
        self._images = images or ImageFetcher()
        self._region = region
        self._clients: dict[tuple[str, str | None, float, float], Any] = {}
        self._lock = threading.Lock()

    def _client(self, region: str, endpoint: str | None, timeouts: Timeouts) -> Any:
        key = (region, endpoint, round(timeouts.connect, 1), round(timeouts.first_byte, 1))
        with self._lock:
            if key not in self._clients:
                import boto3
                from botocore.config import Config

                self._clients[key] = boto3.client(
                    "bedrock-runtime",
                    region_name=region,
                    # None lets boto3 read AWS_ENDPOINT_URL_BEDROCK_RUNTIME itself.
                    endpoint_url=endpoint,
                    config=Config(
                        retries={"mode": "standard", "total_max_attempts": 1},
                        connect_timeout=timeouts.connect,
                        read_timeout=timeouts.first_byte,
                    ),
                )
            return self._clients[key]

    async def aclose(self) -> None:
        await self._images.aclose()

    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
    ) -> BufferedReply | StreamReply:
        body = orjson.loads(payload)
        model = upstream_model(instance, body)
        region = (
            instance.tags.get("region")
            or self._region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        try:
            body = await inline_remote_images(body, self._images)
            request = translate.to_request(body, model)
        except (TranslationError, ImageError) as exc:
            return client_error(400, f"{exc.param}: {exc}", exc.param)
        client = self._client(region, instance.endpoint or None, timeouts)
        call = client.converse_stream if stream else client.converse
        try:
            response = await asyncio.to_thread(call, **request)
        except Exception as exc:
            failure = _failure(exc)
            code = failure.detail
            if code in CALLER_FAULT:
                message = str(getattr(exc, "response", {}).get("Error", {}).get("Message", ""))
                return client_error(400, message[:500] or "the model rejected the request")
            raise failure from None
        if not stream:
            translated = translate.from_response(response, model)
            return BufferedReply(status=200, body=orjson.dumps(translated), parsed=translated)
        events = _translated(iter(response["stream"]), translate.StreamTranslator(model), timeouts)
        try:
            first = await anext(events)
        except StopAsyncIteration:
            raise UpstreamFailure(CONN_RESET, "stream ended before its first event") from None

        async def close() -> None:
            await events.aclose()

        return StreamReply(first_event=first, events=events, close=close)


def _next(events: Iterator[dict[str, Any]]) -> Any:
    return next(events, _END)


async def _translated(
    events: Iterator[dict[str, Any]], translator: translate.StreamTranslator, timeouts: Timeouts
) -> AsyncIterator[bytes]:
    first = True
    while True:
        try:
            async with asyncio.timeout(timeouts.first_byte if first else timeouts.stall):
                event = await asyncio.to_thread(_next, events)
        except TimeoutError:
            raise UpstreamFailure(TIMEOUT_STALL, "stream stalled") from None
        except Exception as exc:
            raise _failure(exc, first_byte=False) from None
        if event is _END:
            if not translator.stopped:
                raise UpstreamFailure(CONN_RESET, "stream ended before the answer did")
            yield SSE_DONE
            return
        first = False
        for name, data in event.items():
            for chunk in translator.feed(name, data if isinstance(data, dict) else {}):
                yield sse(chunk)
        if translator.done:
            yield SSE_DONE
            return
