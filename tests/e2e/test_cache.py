"""The response cache through the running local stack: hit/miss, scoping, and the ledger."""

from __future__ import annotations

import time
import uuid

import httpx

from devstack.stack import EmbeddedStack
from tests.e2e.conftest import registered_key


def test_deterministic_requests_are_cached_per_tenant_and_still_recorded(
    stack: EmbeddedStack,
) -> None:
    key, other = registered_key(stack), registered_key(stack)
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": f"cache me {uuid.uuid4().hex}"}],
        "max_tokens": 6,
        "temperature": 0,
    }

    def ask(api_key: str, **extra: object) -> httpx.Response:
        return httpx.post(
            stack.url + "/v1/chat/completions",
            json={**body, **extra},
            headers={"Authorization": f"Bearer {api_key}", "x-request-id": uuid.uuid4().hex},
            timeout=30,
        )

    first, second = ask(key), ask(key)
    assert first.headers["x-motherfluxer-cache"] == "miss"
    assert second.headers["x-motherfluxer-cache"] == "hit"
    # The same answer under a fresh id: a hit is a response of its own (OpenAI clients key on id).
    fresh, original = second.json(), first.json()
    assert fresh["id"] != original["id"]
    assert {k: v for k, v in fresh.items() if k not in ("id", "created")} == {
        k: v for k, v in original.items() if k not in ("id", "created")
    }
    assert float(second.headers["x-motherfluxer-cost-usd"]) == 0
    assert ask(other).headers["x-motherfluxer-cache"] == "miss", "caches are per tenant"
    assert "x-motherfluxer-cache" not in ask(key, temperature=0.7).headers
    assert "x-motherfluxer-cache" not in ask(key, cache=False).headers

    wanted = {first.headers["x-request-id"], second.headers["x-request-id"]}
    deadline = time.monotonic() + 15
    rows: list[dict] = []
    while time.monotonic() < deadline:
        rows = httpx.get(
            stack.url + "/v1/usage", headers={"Authorization": f"Bearer {key}"}
        ).json()["data"]
        if wanted <= {r["client_request_id"] for r in rows}:
            break
        time.sleep(0.3)
    cached = [r for r in rows if r["client_request_id"] == second.headers["x-request-id"]]
    assert cached and cached[0]["cached"] is True
