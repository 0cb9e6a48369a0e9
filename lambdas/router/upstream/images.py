"""Fetching `image_url` images for providers that take only bytes, without becoming an SSRF.

Every connection (redirects included) resolves its host through a resolver that refuses
private, loopback, link-local, multicast and reserved addresses, so a public name that points
inside (or a redirect to 169.254.169.254) fails the same way as a literal address. Size and
time are capped; any failure is a 400 that names the message part.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import ipaddress
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

MAX_IMAGE_BYTES = 5 * 1024 * 1024
FETCH_TIMEOUT_S = 5.0
MAX_REDIRECTS = 3


class ImageError(ValueError):
    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def is_public_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


class _GuardedResolver(AbstractResolver):
    def __init__(self, allowed: Callable[[Any], bool]) -> None:
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, family=family)
        out: list[ResolveResult] = []
        for fam, _type, proto, _name, sockaddr in infos:
            address = sockaddr[0]
            if not self._allowed(ipaddress.ip_address(address)):
                raise PermissionError(f"{host} resolves to a non-public address")
            out.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=int(sockaddr[1]),
                    family=fam,
                    proto=proto,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return out

    async def close(self) -> None:
        return None


class ImageFetcher:
    def __init__(
        self,
        *,
        max_bytes: int = MAX_IMAGE_BYTES,
        timeout_s: float = FETCH_TIMEOUT_S,
        address_allowed: Callable[[Any], bool] = is_public_address,
        schemes: tuple[str, ...] = ("https",),
    ) -> None:
        self._max = max_bytes
        self._timeout = timeout_s
        self._allowed = address_allowed
        self._schemes = schemes
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self._allowed), limit=32)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    def _check_url(self, url: str, param: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in self._schemes or not parts.hostname:
            raise ImageError("image URL must be https://", param)
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return
        if not self._allowed(literal):
            raise ImageError("image URL points at a non-public address", param)

    async def fetch(self, url: str, param: str) -> tuple[str, bytes]:
        """(media type, bytes) of an image URL, following at most a few checked redirects."""
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(url, param)
        except TimeoutError:
            raise ImageError("image download timed out", param) from None

    async def _fetch(self, url: str, param: str) -> tuple[str, bytes]:
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url, param)
            try:
                async with self._get_session().get(url, allow_redirects=False) as resp:
                    if resp.status in (301, 302, 303, 307, 308):
                        location = resp.headers.get("Location")
                        if not location:
                            raise ImageError("image redirect without a location", param)
                        url = urljoin(url, location)
                        continue
                    if resp.status != 200:
                        raise ImageError(f"image URL answered {resp.status}", param)
                    media = resp.headers.get("Content-Type", "").split(";")[0].strip()
                    if not media.startswith("image/"):
                        raise ImageError("image URL did not return an image", param)
                    length = resp.content_length
                    if length is not None and length > self._max:
                        raise ImageError(f"image is larger than {self._max} bytes", param)
                    data = bytearray()
                    async for piece in resp.content.iter_chunked(65536):
                        data.extend(piece)
                        if len(data) > self._max:
                            raise ImageError(f"image is larger than {self._max} bytes", param)
                    return media, bytes(data)
            except PermissionError:
                raise ImageError("image URL points at a non-public address", param) from None
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, PermissionError):
                    raise ImageError("image URL points at a non-public address", param) from None
                raise ImageError("image URL could not be reached", param) from None
            except aiohttp.ClientError:
                raise ImageError("image URL could not be fetched", param) from None
        raise ImageError("image URL redirects too often", param)


async def inline_remote_images(body: dict[str, Any], fetcher: ImageFetcher) -> dict[str, Any]:
    """A copy of the body whose https image parts are data URLs (the body is left alone)."""
    messages = body.get("messages") or []
    wanted = [
        (i, j)
        for i, msg in enumerate(messages)
        if isinstance(msg.get("content"), list)
        for j, part in enumerate(msg["content"])
        if isinstance(part, dict) and part.get("type") == "image_url" and _remote(part)
    ]
    if not wanted:
        return body
    out = copy.deepcopy(body)
    fetched = await asyncio.gather(
        *(
            fetcher.fetch(_url(out["messages"][i]["content"][j]), f"messages[{i}].content[{j}]")
            for i, j in wanted
        )
    )
    for (i, j), (media, data) in zip(wanted, fetched, strict=True):
        encoded = base64.b64encode(data).decode()
        out["messages"][i]["content"][j] = {
            "type": "image_url",
            "image_url": {"url": f"data:{media};base64,{encoded}"},
        }
    return out


def _url(part: dict[str, Any]) -> str:
    spec = part.get("image_url")
    return str(spec.get("url") if isinstance(spec, dict) else spec or "")


def _remote(part: dict[str, Any]) -> bool:
    return not _url(part).startswith("data:")
