"""A local stack and a headless Chromium (Debian's package, driven by Playwright) per session.

Playwright's own browser download is not used: the tests drive the system `chromium` through
`executable_path`, installing it with apt-get when it is missing and the user may. They never
skip: a machine that cannot provide the browser fails the tests, which is what CI must see.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.procs import free_port
from devstack.stack import EmbeddedStack, StackOptions
from tests.console.cognito_pool import LocalPool
from tests.console.hosted_ui import HostedUi

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "console"


def chromium_path() -> str:
    """The system Chromium, installed with apt-get when missing (root only)."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], env=env, check=False)
        found = shutil.which("chromium")
        if found:
            return found
    pytest.fail(
        "headless Chromium is required for the console tests: `apt-get install -y chromium` "
        "(Debian's package) and run them again"
    )


@pytest.fixture(scope="session")
def cognito_pool() -> Iterator[LocalPool]:
    with LocalPool() as pool:
        yield pool


@pytest.fixture(scope="session")
def hosted_ui(cognito_pool: LocalPool) -> Iterator[HostedUi]:
    with HostedUi(cognito_pool) as ui:
        yield ui


@pytest.fixture(scope="session")
def console_stack(
    tmp_path_factory: pytest.TempPathFactory, cognito_pool: LocalPool, hosted_ui: HostedUi
) -> Iterator[EmbeddedStack]:
    # Two instances per model of the echo backend (real model servers, started in a second),
    # so draining one never takes a model down, plus a v2 of each for the rollout pages.
    # The router also trusts the local "Cognito" pool, whose JWKS is served on loopback, and
    # the console signs in through its stand-in hosted UI (PKCE).
    options = StackOptions(
        data_dir=tmp_path_factory.mktemp("console-stack"),
        port=free_port(),
        instances_per_model=2,
        health_interval_s=1.0,
        model_env={"MODEL_BACKEND": "echo"},
        router_env={**cognito_pool.router_env(), **hosted_ui.router_env()},
    )
    with EmbeddedStack(options) as running:
        running.start_model_server("tiny-chat", "v2", 0)
        running.start_model_server("tiny-coder", "v2", 0)
        running._wait_models({"tiny-chat": 3, "tiny-coder": 3})
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Per module, not per session: while Playwright's sync API is open, its event loop counts
    # as running in this thread, and every later test that calls asyncio.run() would fail.
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as pw:
        instance = pw.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        yield instance
        instance.close()
    asyncio.run(asyncio.sleep(0))  # the thread can run event loops again


class Page:
    """A fresh browser page that fails the test on any script error or off-origin request."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on(
            "console",
            lambda msg: (
                self.errors.append(msg.text)
                if msg.type == "error" and "Failed to load resource" not in msg.text
                else None
            ),
        )
        self.page.on("request", self._check_origin)

    def _check_origin(self, request: Any) -> None:
        if not request.url.startswith((self.base, "data:")):
            self.foreign.append(request.url)

    def open(self, path: str) -> Any:
        self.page.goto(self.base + path)
        self.page.wait_for_selector("body[data-ready='true']")
        return self.page

    def sign_in(self, key: str) -> None:
        self.page.fill("#key-input", key)
        self.page.click("#signin-form button[type=submit]")
        self.page.wait_for_selector("#signout")

    def shot(self, name: str) -> None:
        """Screenshots for docs/console.md, refreshed with MOTHERFLUXER_SCREENSHOTS=1."""
        if os.environ.get("MOTHERFLUXER_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def ui(browser: Any, console_stack: EmbeddedStack) -> Iterator[Page]:
    page = Page(browser, console_stack.url)
    yield page
    page.close()
    assert not page.foreign, f"the console fetched from elsewhere: {page.foreign}"
    assert not page.errors, f"script errors in the console: {page.errors}"
