"""One aiohttp client for the HTTP providers that speak their own protocol (Anthropic, Gemini).

It takes the OpenAI body the dispatcher sends, has the provider's translator rewrite it, and
returns OpenAI bodies and `chat.completion.chunk` SSE events. Failures map to the same
outcomes as the OpenAI client: 429 and 529 (overloaded) cool the instance down for the
provider's retry-after; 5xx, timeouts, cut streams and malformed events can fail over until
the first byte reaches the caller. Keys travel only in request headers, never in errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import aiohttp
import orjson

from router.translate.common import SSE_DONE, TranslationError, sse
from router.upstream.base import (
    CONN_REFUSED,
    CONN_RESET,
    HTTP_5XX,
    HTTP_429,
    MALFORMED,
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
from router.upstream.credentials import Credentials, ProviderAccess
from router.upstream.images import ImageError, ImageFetcher, inline_remote_images
from router.upstream.reply_failures import first_reply_failures, resolve_access
from router.upstream.sse_lines import EventTooLarge, SSEEvent, read_event
from routing.instances import Instance

# Statuses that mean "too busy, come back later" rather than "broken".
OVERLOADED = frozenset({429, 529})


class StreamTranslator(Protocol):
    done: bool

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]: ...


class HTTPProtocol(Protocol):
    provider: str
    needs_image_bytes: bool

    def build(
        self, access: ProviderAccess, model: str, body: dict[str, Any], stream: bool
    ) -> tuple[str, dict[str, str], bytes]: ...

    def translate(self, obj: dict[str, Any], model: str) -> dict[str, Any]: ...

    def stream(self, model: str) -> StreamTranslator: ...

    def retry_after(self, headers: Mapping[str, str], body: bytes) -> float | None: ...


def client_error(status: int, message: str, param: str | None = None) -> BufferedReply:
    body = {"error": {"type": "invalid_request_error", "message": message, "param": param}}
    return BufferedReply(status=status, body=orjson.dumps(body))


class TranslatingHTTPClient:
    def __init__(
        self,
        protocol: HTTPProtocol,
        credentials: Credentials,
        images: ImageFetcher | None = None,
    ) -> None:
        self._protocol = protocol
        self._credentials = credentials
        self._images = images or ImageFetcher()
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, ttl_dns_cache=300),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
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
        provider = instance.tags.get("provider", self._protocol.provider)
        access = resolve_access(self._credentials, provider, instance)
        try:
            if self._protocol.needs_image_bytes:
                body = await inline_remote_images(body, self._images)
            url, headers, data = self._protocol.build(access, model, body, stream)
        except (TranslationError, ImageError) as exc:
            return client_error(400, f"{exc.param}: {exc}", exc.param)
        timeout = aiohttp.ClientTimeout(
            total=None if stream else timeouts.total,
            connect=timeouts.connect,
            sock_connect=timeouts.connect,
            sock_read=timeouts.first_byte,
        )
        resp = await self._post(url, headers, data, timeout)
        with first_reply_failures(resp):
            if resp.status in OVERLOADED or resp.status >= 500:
                raw = await resp.read()
                retry_after = self._protocol.retry_after(resp.headers, raw)
                outcome = HTTP_429 if resp.status in OVERLOADED else HTTP_5XX
                raise UpstreamFailure(outcome, status=resp.status, retry_after=retry_after)
            if resp.status in (401, 403):
                # Our credential, not the caller's: another provider may still answer.
                resp.release()
                raise UpstreamFailure(HTTP_5XX, "provider refused the credential", status=502)
            if resp.status != 200:
                raw = await resp.read()
                return client_error(resp.status, _provider_message(raw))
            if not stream:
                raw = await resp.read()
                try:
                    obj = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise UpstreamFailure(MALFORMED, "reply is not JSON") from None
                if not isinstance(obj, dict):
                    raise UpstreamFailure(MALFORMED, "reply is not a JSON object")
                try:
                    translated = self._protocol.translate(obj, model)
                except (KeyError, TypeError, ValueError, AttributeError):
                    raise UpstreamFailure(MALFORMED, "reply does not match the protocol") from None
                return BufferedReply(status=200, body=orjson.dumps(translated), parsed=translated)
            translator = self._protocol.stream(model)
            events = _translated(resp, translator, timeouts.stall)
            try:
                async with asyncio.timeout(timeouts.first_byte):
                    first = await anext(events)
            except StopAsyncIteration:
                raise UpstreamFailure(MALFORMED, "stream ended before its first event") from None
            except TimeoutError:
                raise UpstreamFailure(TIMEOUT_FIRST_BYTE, "no first event in time") from None

        async def close() -> None:
            await events.aclose()
            resp.close()

        return StreamReply(first_event=first, events=events, close=close)

    async def _post(
        self, url: str, headers: dict[str, str], data: bytes, timeout: aiohttp.ClientTimeout
    ) -> aiohttp.ClientResponse:
        try:
            return await self._get_session().post(
                url, data=data, headers=headers, timeout=timeout, allow_redirects=False
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, TimeoutError):
                raise UpstreamFailure(TIMEOUT_CONNECT, "connect timed out") from None
            raise UpstreamFailure(CONN_REFUSED, "could not connect") from None
        except aiohttp.ConnectionTimeoutError:
            raise UpstreamFailure(TIMEOUT_CONNECT, "connect timed out") from None
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise UpstreamFailure(TIMEOUT_FIRST_BYTE, "timed out") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            raise UpstreamFailure(CONN_RESET, "connection dropped before a reply") from None
        except aiohttp.ClientResponseError:
            raise UpstreamFailure(MALFORMED, "invalid HTTP response") from None


def _provider_message(raw: bytes) -> str:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "the provider rejected the request"
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return err["message"][:500]
    return "the provider rejected the request"


async def _next_event(resp: aiohttp.ClientResponse, stall: float) -> SSEEvent | None:
    try:
        async with asyncio.timeout(stall):
            return await read_event(resp.content)
    except TimeoutError:
        raise UpstreamFailure(TIMEOUT_STALL, "stream stalled") from None
    except EventTooLarge:
        raise UpstreamFailure(MALFORMED, "SSE event too large") from None
    except (
        ConnectionResetError,
        aiohttp.ClientPayloadError,
        aiohttp.ClientOSError,
        aiohttp.ServerDisconnectedError,
    ):
        raise UpstreamFailure(CONN_RESET, "connection dropped mid-stream") from None


async def _translated(
    resp: aiohttp.ClientResponse, translator: StreamTranslator, stall: float
) -> AsyncIterator[bytes]:
    """Provider SSE in, OpenAI SSE out; ends with `[DONE]` only after a complete answer."""
    try:
        while True:
            event = await _next_event(resp, stall)
            if event is None:
                if getattr(translator, "finish_on_eof", False):
                    for chunk in translator.feed("eof", {}):
                        yield sse(chunk)
                if not translator.done:
                    raise UpstreamFailure(CONN_RESET, "stream ended before the answer did")
                yield SSE_DONE
                return
            if not event.data:
                continue
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamFailure(MALFORMED, "stream event is not JSON") from None
            if not isinstance(data, dict):
                raise UpstreamFailure(MALFORMED, "stream event is not a JSON object")
            if event.event == "error" or "error" in data:
                raise UpstreamFailure(STREAM_ERROR, "provider reported an error mid-stream")
            try:
                chunks = translator.feed(event.event, data)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise UpstreamFailure(
                    MALFORMED, "stream event does not match the protocol"
                ) from None
            for chunk in chunks:
                yield sse(chunk)
            if translator.done and not getattr(translator, "finish_on_eof", False):
                yield SSE_DONE
                return
    finally:
        resp.close()
