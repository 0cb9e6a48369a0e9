"""One local stack (embedded parts, tiny model servers) shared by the end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.procs import free_port
from devstack.stack import EmbeddedStack, StackOptions


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    data_dir: Path = tmp_path_factory.mktemp("local-stack")
    options = StackOptions(data_dir=data_dir, port=free_port(), health_interval_s=1.0)
    with EmbeddedStack(options) as running:
        yield running


@pytest.fixture(scope="module")
def http(stack: EmbeddedStack) -> Iterator[httpx.Client]:
    """A client with the stack's registered developer key."""
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin(stack: EmbeddedStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        yield client


def registered_key(stack: EmbeddedStack, name: str = "e2e") -> str:
    """A fresh registered user and its key, through the admin API (limits of its own)."""
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        user = client.post(
            "/admin/users", json={"name": f"{name}-{uuid.uuid4().hex[:8]}", "tier": "registered"}
        )
        assert user.status_code == 201, user.text
        key = client.post(f"/admin/users/{user.json()['user_id']}/keys", json={})
        assert key.status_code == 201, key.text
        return str(key.json()["key"])
