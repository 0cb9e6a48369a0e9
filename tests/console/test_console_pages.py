"""Sign-up, conversation history and the serving rules of /ui/ (CSP, paths, the off switch)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from devstack.stack import EmbeddedStack
from router.console import mount
from router.error_handlers import install_error_handlers

pytestmark = pytest.mark.slow


def test_local_sign_up_creates_a_registered_user_whose_key_works(
    ui, console_stack: EmbeddedStack
) -> None:
    page = ui.open("/ui/")
    page.fill("#signup-name", "new person")
    page.click("#signup-form button[type=submit]")
    page.wait_for_selector("#signout")
    text = page.locator("#notice").inner_text()
    key = text.split(": ", 1)[1].strip()
    assert page.locator("#whoami").inner_text() == "Signed in (key)"
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        usage = client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"})
    assert usage.status_code == 200, usage.text


def test_a_kept_conversation_can_be_reopened(ui, console_stack: EmbeddedStack) -> None:
    page = ui.open("/ui/")
    ui.sign_in(console_stack.api_key)
    page.select_option("#mode", "manual")
    page.check("#keep")
    page.fill("#prompt", "remember this sentence")
    page.click("#send")
    page.locator(".msg.assistant[data-state='done']").wait_for()
    link = page.locator("#conversations a").first
    link.wait_for()
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0
    link.click()
    page.wait_for_selector(".msg.user >> text=remember this sentence")
    assert page.locator(".msg.assistant").count() == 1
    ui.shot("chat-history")


def test_pages_carry_a_strict_csp_and_only_static_files_are_served(
    console_stack: EmbeddedStack,
) -> None:
    with httpx.Client(base_url=console_stack.url, timeout=10) as client:
        for path in ("/ui/", "/ui/admin"):
            page = client.get(path)
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "default-src 'none'" in csp and "script-src 'self'" in csp
            assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
            assert page.headers["x-frame-options"] == "DENY"
        assert client.get("/ui/js/api.js").headers["content-type"].startswith("text/javascript")
        for bad in ("/ui/../mount.py", "/ui/%2e%2e/mount.py", "/ui/js/../../mount.py", "/ui/nope"):
            assert client.get(bad).status_code == 404, bad
        assert client.get("/ui", follow_redirects=False).headers["location"] == "/ui/"


def _app() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(mount.build_router())
    return TestClient(app)


def test_local_sign_up_is_off_by_default_outside_the_local_stage(monkeypatch) -> None:
    monkeypatch.delenv("MOTHERFLUXER_LOCAL_SIGNUP", raising=False)
    monkeypatch.setenv("MOTHERFLUXER_STAGE", "prod")
    client = _app()
    assert client.get("/ui/config.json").json()["local_signup"] is False
    refused = client.post("/ui/signup", json={"name": "x"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "signup_disabled"
    monkeypatch.setenv("MOTHERFLUXER_STAGE", "local")
    monkeypatch.setenv("MOTHERFLUXER_LOCAL_SIGNUP", "false")
    assert client.post("/ui/signup", json={"name": "x"}).status_code == 403
    monkeypatch.setenv("MOTHERFLUXER_LOCAL_SIGNUP", "")
    assert mount.local_signup_enabled() is True


def test_cors_allows_the_console_origin_only_and_exposes_the_route_headers() -> None:
    from router.console.cors import install_cors

    app = FastAPI()

    @app.get("/v1/models")
    async def models() -> dict:
        return {"data": []}

    install_cors(app, "https://console.example.com")
    client = TestClient(app)
    ok = client.get("/v1/models", headers={"Origin": "https://console.example.com"})
    assert ok.headers["access-control-allow-origin"] == "https://console.example.com"
    assert "x-motherfluxer-route-reason" in ok.headers["access-control-expose-headers"]
    other = client.get("/v1/models", headers={"Origin": "https://evil.example.net"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/v1/models",
        headers={
            "Origin": "https://console.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    # Without a configured origin no CORS headers are sent at all.
    bare = FastAPI()
    install_cors(bare, "")
    assert not bare.user_middleware
