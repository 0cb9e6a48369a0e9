"""The registration client in-process against a fake router: token handling and retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web

from model_server.config import Settings
from model_server.registration import RouterRegistration
from tests.model_server.harness import FakeRouter, free_port

# The fake router lives on the session loop, so the tests must run on it too.
pytestmark = pytest.mark.asyncio(loop_scope="session")

KEY = "enrol-key-1"


async def _serve(router: FakeRouter, port: int = 0) -> web.AppRunner:
    runner = web.AppRunner(router.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    router.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    router.url = f"http://127.0.0.1:{router.port}"
    return runner


@pytest.fixture
async def router() -> AsyncIterator[FakeRouter]:
    fake = FakeRouter(tokens={"good-token"}, enrollment_key=KEY, heartbeat_interval_s=0.05)
    runner = await _serve(fake)
    try:
        yield fake
    finally:
        await runner.cleanup()


def _client(url: str, token: str | None, key: str | None = KEY) -> RouterRegistration:
    settings = Settings(
        router_url=url,
        public_url="http://127.0.0.1:9999",
        served_model_name="m1",
        model_version="v2",
        registration_token=token,
        enrollment_key=key,
        registration_backoff_cap_s=0.2,
    )
    status = {"in_flight": 0, "queue_depth": 0, "tokens_per_second": 1.5, "ready": True}

    async def ready() -> None:
        return None

    return RouterRegistration(settings, lambda: dict(status), ready)


async def _until(predicate: Callable[[], Any], timeout: float = 10) -> None:
    """Poll a condition that other tasks on this loop make true; bounded by `timeout`."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the condition has no event to wait on
            await asyncio.sleep(0.02)


async def test_initial_token_registers_and_heartbeats(router: FakeRouter) -> None:
    client = _client(router.url, "good-token")
    client.start()
    try:
        await _until(lambda: len(router.of("heartbeat")) >= 3)
    finally:
        await client.deregister()
    [reg] = router.of("register")
    assert reg["body"] == {
        "token": "good-token",
        "model": "m1",
        "version": "v2",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9999",
    }
    assert router.of("token") == []
    assert router.of("heartbeat")[0]["body"]["tokens_per_second"] == 1.5
    [delete] = router.of("delete")
    assert delete["auth"] == "Bearer cred-secret-1"
    assert router.instances == {}


async def test_missing_token_uses_the_enrollment_key(router: FakeRouter) -> None:
    client = _client(router.url, None)
    client.start()
    try:
        await _until(lambda: client.instance_id is not None)
    finally:
        await client.deregister()
    [token_call] = router.of("token")
    assert token_call["auth"] == f"Bearer {KEY}"
    assert token_call["body"] == {"model": "m1"}
    assert router.of("register")[0]["body"]["token"] == "fresh-token-1"


async def test_spent_token_is_replaced_once(router: FakeRouter) -> None:
    client = _client(router.url, "spent-token")
    client.start()
    try:
        await _until(lambda: client.instance_id is not None)
    finally:
        await client.deregister()
    tokens = [c["body"]["token"] for c in router.of("register")]
    assert tokens == ["spent-token", "fresh-token-1"]


async def test_forgotten_instance_reenrols(router: FakeRouter) -> None:
    client = _client(router.url, "good-token")
    client.start()
    try:
        await _until(lambda: client.instance_id == "inst-1" and router.of("heartbeat"))
        router.forget.add("inst-1")
        await _until(lambda: client.instance_id == "inst-2")
        await _until(lambda: router.of("heartbeat")[-1]["auth"] == "Bearer cred-secret-2")
    finally:
        await client.deregister()
    assert len(router.of("token")) == 1


async def test_router_outage_is_retried_until_it_answers() -> None:
    port = free_port()
    fake = FakeRouter(tokens={"good-token"}, enrollment_key=KEY, heartbeat_interval_s=0.05)
    client = _client(f"http://127.0.0.1:{port}", "good-token")
    client.start()
    runner = None
    try:
        await asyncio.sleep(0.5)  # several refused attempts with backoff
        assert client.instance_id is None
        runner = await _serve(fake, port)
        await _until(lambda: client.instance_id is not None)
        # The token was never consumed while the router was down, so it is still the one used.
        assert [c["body"]["token"] for c in fake.of("register")] == ["good-token"]
    finally:
        await client.deregister()
        if runner is not None:
            await runner.cleanup()


async def test_without_enrollment_key_a_spent_token_keeps_retrying_quietly(
    router: FakeRouter,
) -> None:
    client = _client(router.url, "spent-token", key=None)
    client.start()
    await asyncio.sleep(0.6)
    assert client.instance_id is None
    await client.deregister()  # stops the loop cleanly even though it never registered
    assert len(router.of("register")) == 1
    assert router.of("delete") == []
