"""The SSRF guard of the image fetcher, rate-limit header parsing and credential resolution."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

import pytest
from aiohttp import web

from router.upstream.credentials import Credentials
from router.upstream.images import ImageError, ImageFetcher, is_public_address
from router.upstream.ratelimit_headers import header_retry_after, parse_duration
from tests.support.mock_base import MockServer, MockState

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
LOOPBACK = ipaddress.ip_address("127.0.0.1")


@pytest.fixture(scope="module")
def site() -> Iterator[MockServer]:
    async def image(_: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")

    async def big(_: web.Request) -> web.Response:
        return web.Response(body=b"\0" * 20_000, content_type="image/png")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.Response(body=PNG, content_type="image/png")

    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>", content_type="text/html")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    app = web.Application()
    for path, handler in (("/a.png", image), ("/big", big), ("/slow", slow), ("/page", html),
                          ("/go", redirect)):  # fmt: skip
        app.router.add_get(path, handler)
    with MockServer(app, MockState()) as server:
        yield server


def fetch(url: str, **kw) -> tuple[str, bytes]:
    async def go() -> tuple[str, bytes]:
        fetcher = ImageFetcher(**kw)
        try:
            return await fetcher.fetch(url, "messages[0].content[1]")
        finally:
            await fetcher.aclose()

    return asyncio.run(go())


def only_loopback(ip) -> bool:
    return ip == LOOPBACK


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/a.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/a.png",
        "https://192.168.1.1/a.png",
        "https://[::1]/a.png",
        "https://[::ffff:127.0.0.1]/a.png",
        "https://localhost/a.png",
        "http://example.com/a.png",
        "file:///etc/passwd",
    ],
)
def test_private_loopback_link_local_and_plain_http_are_refused(url: str) -> None:
    with pytest.raises(ImageError) as err:
        fetch(url, timeout_s=2)
    assert err.value.param == "messages[0].content[1]"


@pytest.mark.parametrize(
    "target", ["http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/x.png"]
)
def test_redirect_to_an_internal_address_is_refused(site: MockServer, target: str) -> None:
    # Loopback is allowed here only so the test's own server can send the redirect.
    with pytest.raises(ImageError, match="non-public"):
        fetch(f"{site.url}/go?to={target}", address_allowed=only_loopback, schemes=("http",))


def test_allowed_fetch_size_cap_timeout_and_type(site: MockServer) -> None:
    kw = {"address_allowed": only_loopback, "schemes": ("http",)}
    assert fetch(site.url + "/a.png", **kw) == ("image/png", PNG)
    assert fetch(f"{site.url}/go?to=/a.png", **kw)[1] == PNG, "a same-site redirect is followed"
    with pytest.raises(ImageError, match="larger"):
        fetch(site.url + "/big", max_bytes=10_000, **kw)
    with pytest.raises(ImageError, match="timed out"):
        fetch(site.url + "/slow", timeout_s=0.3, **kw)
    with pytest.raises(ImageError, match="not return an image"):
        fetch(site.url + "/page", **kw)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
    ],
)
def test_public_address_policy(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}, 1.0),
        ({"x-ratelimit-reset-tokens": "250ms"}, 0.25),
        ({"anthropic-ratelimit-requests-reset": "2026-12-01T10:00:00Z"}, None),
        ({}, None),
    ],
)
def test_retry_after_from_headers(headers: dict[str, str], seconds: float | None) -> None:
    assert header_retry_after(headers) == seconds


def test_parse_duration() -> None:
    assert parse_duration("1h2m3s") == 3723
    assert parse_duration("soon") is None


def test_credentials_env_base_urls_and_secrets() -> None:
    env = {
        "ANTHROPIC_API_KEY": "a-key",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/",
        "GOOGLE_API_KEY": "g-key",
    }
    creds = Credentials(env=env, secret=lambda arn: f"from-{arn}")
    access = creds.resolve("anthropic", {}, "")
    assert (access.base_url, access.api_key) == ("http://127.0.0.1:9", "a-key")
    assert "a-key" not in repr(access)
    gemini = creds.resolve("google", {}, "")
    assert gemini.api_key == "g-key"
    assert gemini.base_url == "https://generativelanguage.googleapis.com"
    deepseek = creds.resolve("deepseek", {"api_key_secret": "arn:x"}, "")
    assert deepseek.api_key == "from-arn:x" and deepseek.base_url == "https://api.deepseek.com/v1"
    assert creds.resolve("minimax", {}, "").base_url == "https://api.minimax.io/v1"
    assert creds.key_available("gemini") and not creds.key_available("openai")
