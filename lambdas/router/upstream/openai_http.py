"""Upstream client for OpenAI-compatible HTTP servers (our model server, vLLM, providers).

aiohttp was chosen by measuring the hop on this hardware (see bench/ and NOTES.md): about
1 ms and 1,150 RPS at c=32 against 3 ms and 167 RPS for httpx's pool.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping

import aiohttp

from router.upstream.base import (
    CONN_REFUSED,
    CONN_RESET,
    HTTP_5XX,
    HTTP_429,
    MALFORMED,
    TIMEOUT_CONNECT,
    TIMEOUT_FIRST_BYTE,
    TIMEOUT_STALL,
    BufferedReply,
    StreamReply,
    Timeouts,
    UpstreamFailure,
    check_first_event,
)
from router.upstream.ratelimit_headers import ratelimit_reset
from router.upstream.reply_failures import first_reply_failures
from routing.instances import Instance
from routing.retry import parse_retry_after

_MAX_EVENT_BYTES = 4 * 1024 * 1024


class OpenAIHTTPClient:
    def __init__(
        self,
        *,
        limit_per_host: int = 256,
        auth_for: Callable[[dict[str, str]], dict[str, str]] | None = None,
    ) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._limit_per_host = limit_per_host
        # Only external providers carry a key reference in their tags; our instances need none.
        self._auth_for = auth_for

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=0, limit_per_host=self._limit_per_host, ttl_dns_cache=300
            )
            # No cookies, no env proxies: the router talks to instances directly.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def send(
        self,
        instance: Instance,
        path: str,
        payload: bytes,
        *,
        stream: bool,
        timeouts: Timeouts,
        extra_headers: Mapping[str, str] | None = None,
    ) -> BufferedReply | StreamReply:
        url = instance.endpoint.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if self._auth_for is not None and "api_key_secret" in instance.tags:
            headers.update(self._auth_for(instance.tags))
        if extra_headers:
            # Provider keys for external instances (router.upstream.openai_compat).
            headers.update(extra_headers)
        if stream:
            headers["Accept"] = "text/event-stream"
        timeout = aiohttp.ClientTimeout(
            total=None if stream else timeouts.total,
            connect=timeouts.connect,
            sock_connect=timeouts.connect,
            sock_read=timeouts.first_byte,
        )
        session = self._get_session()
        try:
            resp = await session.post(url, data=payload, headers=headers, timeout=timeout)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ConnectionRefusedError):
                raise UpstreamFailure(CONN_REFUSED, "connection refused") from None
            if isinstance(exc.os_error, TimeoutError):
                raise UpstreamFailure(TIMEOUT_CONNECT, "connect timed out") from None
            raise UpstreamFailure(CONN_REFUSED, "could not connect") from None
        except (aiohttp.ConnectionTimeoutError, aiohttp.ServerTimeoutError) as exc:
            kind = (
                TIMEOUT_CONNECT
                if isinstance(exc, aiohttp.ConnectionTimeoutError)
                else TIMEOUT_FIRST_BYTE
            )
            raise UpstreamFailure(kind, "timed out") from None
        except TimeoutError:
            raise UpstreamFailure(TIMEOUT_FIRST_BYTE, "timed out") from None
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError):
            raise UpstreamFailure(CONN_RESET, "connection dropped before a reply") from None
        except aiohttp.ClientResponseError:
            raise UpstreamFailure(MALFORMED, "invalid HTTP response") from None

        with first_reply_failures(resp):
            if resp.status >= 500 or resp.status == 429:
                retry_after = parse_retry_after(resp.headers.get("Retry-After"), time.time())
                if retry_after is None:
                    retry_after = ratelimit_reset(resp.headers)
                resp.release()
                outcome = HTTP_429 if resp.status == 429 else HTTP_5XX
                raise UpstreamFailure(outcome, status=resp.status, retry_after=retry_after)
            if not stream or resp.status != 200:
                body = await resp.read()
                return BufferedReply(
                    status=resp.status,
                    body=body,
                    content_type=resp.headers.get("Content-Type", "application/json"),
                )
            first = await _read_event(resp, timeouts.first_byte, TIMEOUT_FIRST_BYTE)
            if not first:
                raise UpstreamFailure(MALFORMED, "stream ended before its first event")
            check_first_event(first)

        async def close() -> None:
            resp.close()

        return StreamReply(first_event=first, events=_events(resp, timeouts.stall), close=close)


async def _read_event(resp: aiohttp.ClientResponse, timeout: float, outcome: str) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            return await resp.content.readuntil(b"\n\n")
    except TimeoutError:
        raise UpstreamFailure(outcome, "stream stalled") from None
    except ValueError:
        # readuntil raises ValueError when the chunk exceeds the reader's limit.
        raise UpstreamFailure(MALFORMED, "SSE event too large") from None


async def _events(resp: aiohttp.ClientResponse, stall: float) -> AsyncIterator[bytes]:
    try:
        while True:
            try:
                event = await _read_event(resp, stall, TIMEOUT_STALL)
            except (
                aiohttp.ClientPayloadError,
                aiohttp.ClientOSError,
                aiohttp.ServerDisconnectedError,
            ):
                raise UpstreamFailure(CONN_RESET, "connection dropped mid-stream") from None
            except aiohttp.ServerTimeoutError:
                raise UpstreamFailure(TIMEOUT_STALL, "stream stalled") from None
            if not event:
                return
            if not event.endswith(b"\n\n"):
                # The connection closed in the middle of an event.
                raise UpstreamFailure(CONN_RESET, "stream ended inside an event")
            if len(event) > _MAX_EVENT_BYTES:
                raise UpstreamFailure(MALFORMED, "SSE event too large")
            yield event
    finally:
        resp.close()
