"""A router on moto with a strict OpenAI-wire mock as its only upstream, with and without
accounts (real PostgreSQL and Redis), for the ingress protocols' end-to-end tests."""

from __future__ import annotations

import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.openai_wire_mock import OpenAIWireMock
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

CHAT = "mock-chat"
EMBED = "mock-embed"
# Not a demo model: anonymous callers are refused it, so a test can tell a key was used.
PRIVATE = "mock-private"


def _catalog() -> dict:
    return catalog_doc(
        model_doc(
            CHAT,
            owned_by="acme",
            capabilities=["text", "chat", "tools", "vision", "json_object", "json_schema"],
        ),
        model_doc(EMBED, owned_by="acme", capabilities=["text", "embeddings"]),
        model_doc(PRIVATE, demo=False),
    )


@pytest.fixture(scope="session")
def upstream() -> Iterator[OpenAIWireMock]:
    mock = OpenAIWireMock().start()
    yield mock
    mock.stop()


def _with_instances(router: RouterHarness, upstream: OpenAIWireMock) -> RouterHarness:
    for model in (CHAT, EMBED, PRIVATE):
        router.add_instance(model, upstream.url)
    # The router refreshes its snapshot in the background: wait until it routes to them.
    deadline = time.monotonic() + 10
    with router.client(headers=router.admin) as client:
        while time.monotonic() < deadline:
            data = client.get("/v1/models").json()["data"]
            if all(m["status"]["healthy_instances"] for m in data):
                return router
            time.sleep(0.05)
    raise RuntimeError("the router never saw the mock instances")


@pytest.fixture(scope="module")
def router(moto_endpoint: str, upstream: OpenAIWireMock) -> Iterator[RouterHarness]:
    """The router in spine mode: no accounts, every caller anonymous."""
    harness = start_router(moto_endpoint, _catalog())
    yield _with_instances(harness, upstream)
    harness.stop()


@dataclass
class AccountsRouter:
    harness: RouterHarness
    database_url: str

    @property
    def url(self) -> str:
        return self.harness.url

    def new_key(self) -> str:
        with self.harness.client(headers=self.harness.admin) as client:
            user = client.post(
                "/admin/users",
                json={"name": f"ingress-{uuid.uuid4().hex[:8]}", "tier": "registered"},
            )
            assert user.status_code == 201, user.text
            key = client.post(f"/admin/users/{user.json()['user_id']}/keys", json={})
            assert key.status_code == 201, key.text
            return str(key.json()["key"])


@pytest.fixture(scope="module")
def accounts_router(moto_endpoint: str, upstream: OpenAIWireMock) -> Iterator[AccountsRouter]:
    """The router with accounts on a real PostgreSQL and Redis (keys, tiers, stored responses)."""
    from tests.accounts.servers import Postgres, RedisProcess

    workdir = Path(tempfile.mkdtemp(prefix="mf-ingress-"))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        pg = Postgres(workdir / "pg")
    redis = RedisProcess(workdir / "redis")
    redis.start()
    url = pg.url().replace("postgresql://", "postgresql+psycopg://", 1)
    harness = start_router(
        moto_endpoint,
        _catalog(),
        database_url=url,
        redis_url=redis.url,
        data_dir=str(workdir / "data"),
    )
    try:
        with httpx.Client(base_url=harness.url, timeout=30) as client:
            assert client.get("/health/live").status_code == 200
        yield AccountsRouter(_with_instances(harness, upstream), url)
    finally:
        harness.stop()
        redis.stop()
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)
