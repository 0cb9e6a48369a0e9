"""HTTP server limits for uvicorn: header size and count, header-read and keep-alive timeouts,
and which peers may set forwarding headers.

uvicorn on its own keeps a connection that never finishes its headers open forever, accepts a
100 KB header or 2,000 headers, and trusts `X-Forwarded-For` from any loopback peer (which let
anonymous callers pick their own rate-limit address). The defaults here, all overridable by
environment:

| variable | default | what |
| --- | --- | --- |
| `MOTHERFLUXER_HEADER_TIMEOUT_S` | 10 | a request's line and headers must arrive within this |
| `MOTHERFLUXER_KEEPALIVE_TIMEOUT_S` | 5 | an idle keep-alive connection is closed after this |
| `MOTHERFLUXER_MAX_HEADER_BYTES` | 32768 | request line plus all headers, else 431 |
| `MOTHERFLUXER_MAX_HEADERS` | 100 | header lines per request, else 431 |
| `MOTHERFLUXER_TRUSTED_PROXIES` | (none) | peers whose `X-Forwarded-For` is believed |
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.write_coalescing import CoalescingTransport

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not in the Lambda bundle: uvicorn then runs h11
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

_431 = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
)
_431_BODY = (
    b'{"error":{"type":"invalid_request_error","message":"request headers are too large '
    b'or too many","param":null,"code":"headers_too_large"}}'
)


@dataclass(frozen=True)
class ServerLimits:
    header_timeout_s: float = 10.0
    keepalive_timeout_s: float = 5.0
    max_header_bytes: int = 32_768
    max_headers: int = 100
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerLimits:
        env = os.environ if env is None else env
        proxies = env.get("MOTHERFLUXER_TRUSTED_PROXIES", "")
        return cls(
            header_timeout_s=float(env.get("MOTHERFLUXER_HEADER_TIMEOUT_S", cls.header_timeout_s)),
            keepalive_timeout_s=float(
                env.get("MOTHERFLUXER_KEEPALIVE_TIMEOUT_S", cls.keepalive_timeout_s)
            ),
            max_header_bytes=int(env.get("MOTHERFLUXER_MAX_HEADER_BYTES", cls.max_header_bytes)),
            max_headers=int(env.get("MOTHERFLUXER_MAX_HEADERS", cls.max_headers)),
            trusted_proxies=tuple(p.strip() for p in proxies.split(",") if p.strip()),
        )

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for `uvicorn.Config` / `uvicorn.run`.

        Without httptools (the Lambda bundle, where only Lambda Web Adapter on loopback
        connects) uvicorn's h11 bounds the header bytes; header count and the header-read
        deadline need the httptools protocol below.
        """
        # Both protocols answer a request they cannot parse in the JSON error shape.
        from router.http_errors import JsonBadRequestH11, json_bad_request_httptools

        http: Any = JsonBadRequestH11
        if HttpToolsProtocol is not None:

            class Protocol(json_bad_request_httptools(GuardedHttpToolsProtocol)):  # type: ignore[misc]
                limits = self

            http = Protocol
        return {
            "http": http,
            "timeout_keep_alive": self.keepalive_timeout_s,
            # Forwarding headers only from configured proxies; none by default.
            "proxy_headers": bool(self.trusted_proxies),
            "forwarded_allow_ips": ",".join(self.trusted_proxies) or None,
            "h11_max_incomplete_event_size": self.max_header_bytes,
        }


class GuardedHttpToolsProtocol(HttpToolsProtocol or object):  # type: ignore[misc]
    """uvicorn's httptools protocol with a header-read deadline and header limits."""

    limits: ServerLimits = ServerLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        # A response's head and body leave in one write (router.write_coalescing).
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]
        self._header_bytes = 0
        self._header_count = 0
        self._too_big = False
        self._header_timer: asyncio.TimerHandle | None = None
        # A connection that never sends a complete request head is closed, idle or not.
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._header_timeout
            )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        self._arm_header_timer()

    def _charge(self, size: int, lines: int = 0) -> bool:
        self._header_bytes += size
        self._header_count += lines
        if self._too_big:
            return False
        if (
            self._header_bytes > self.limits.max_header_bytes
            or self._header_count > self.limits.max_headers
        ):
            self._too_big = True
            self._reject()
            return False
        return True

    def _reject(self) -> None:
        if self.transport.is_closing():
            return
        length = b"content-length: " + str(len(_431_BODY)).encode() + b"\r\n\r\n"
        self.transport.write(_431 + length + _431_BODY)
        self.transport.close()

    def on_url(self, url: bytes) -> None:
        if self._charge(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._charge(len(name) + len(value) + 4, 1):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        if self._too_big or self.transport.is_closing():
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._too_big:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self._too_big:
            super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        if self._too_big:
            return
        super().data_received(data)
