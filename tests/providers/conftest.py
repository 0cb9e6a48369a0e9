"""The router with external (provider) instances pointing at strict mock providers on loopback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from routing.instances import Instance
from tests.support.router_harness import RouterHarness, catalog_doc, model_doc, start_router

PROVIDER_ENV = (
    "ANTHROPIC_BASE_URL",
    "GEMINI_BASE_URL",
    "OPENAI_BASE_URL",
    "AWS_ENDPOINT_URL_BEDROCK_RUNTIME",
    "DEEPSEEK_BASE_URL",
    "MINIMAX_BASE_URL",
)

FULL = ["text", "chat", "vision", "tools", "json_object", "json_schema"]


def provider_model(model_id: str, provider: str, **fields: Any) -> dict[str, Any]:
    doc = model_doc(model_id, capabilities=FULL, provider=provider, demo=False)
    doc.update(fields)
    return doc


def external(
    harness: RouterHarness,
    model: str,
    provider: str,
    endpoint: str,
    *,
    instance_id: str,
    upstream_model: str | None = None,
) -> Instance:
    inst = Instance(
        instance_id=instance_id,
        model=model,
        version="v1",
        kind="external",
        endpoint=endpoint,
        status="healthy",
        last_heartbeat=time.time(),
        lease_seconds=0.0,
        tags={"provider": provider, "upstream_model": upstream_model or model},
    )
    harness.repo.put(inst)
    return inst


@pytest.fixture(scope="module")
def clean_provider_env() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        for name in PROVIDER_ENV:
            mp.delenv(name, raising=False)
        yield mp


@pytest.fixture(scope="module")
def provider_router(
    moto_endpoint: str, clean_provider_env: pytest.MonkeyPatch
) -> Iterator[RouterHarness]:
    catalog = catalog_doc(
        provider_model("claude", "anthropic", fallback="claude-backup"),
        provider_model("claude-backup", "anthropic"),
        provider_model("gemini", "gemini", fallback="gemini-backup"),
        provider_model("gemini-backup", "gemini"),
        provider_model("bedrock-claude", "bedrock"),
        model_doc("plain", capabilities=["text", "chat"]),
    )
    harness = start_router(moto_endpoint, catalog)
    try:
        yield harness
    finally:
        harness.stop()
