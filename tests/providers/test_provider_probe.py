"""The optional active probe of provider models: off by default, a models-list call when on."""

from __future__ import annotations

import asyncio
import time

import boto3
import pytest
from moto import mock_aws

from health_checker.probe import check_all
from registry.repository import InstanceRepository, create_table
from routing.instances import Instance
from tests.support.mock_anthropic import AnthropicMock
from tests.support.mock_gemini import GeminiMock


def _ext(iid: str, provider: str, endpoint: str, status: str = "healthy") -> Instance:
    return Instance(
        iid,
        iid,
        "v1",
        "external",
        endpoint,
        status=status,
        last_heartbeat=time.time(),
        lease_seconds=0,
        tags={"provider": provider},
    )


def test_provider_probe_off_by_default_and_models_list_when_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ANTHROPIC_BASE_URL", "GEMINI_BASE_URL", "MOTHERFLUXER_PROVIDER_PROBES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "right")
    monkeypatch.setenv("GEMINI_API_KEY", "wrong")
    with AnthropicMock("right") as claude, GeminiMock("right") as gemini, mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, "instances")
        repo = InstanceRepository(client, "instances")
        repo.put(_ext("claude", "anthropic", claude.url, status="unhealthy"))
        repo.put(_ext("gemini", "gemini", gemini.url))
        repo.put(_ext("bedrock", "bedrock", ""))

        report = asyncio.run(check_all(repo, timeout_s=2))
        assert report.probed == 0 and repo.get("gemini").status == "healthy"

        monkeypatch.setenv("MOTHERFLUXER_PROVIDER_PROBES", "true")
        report = asyncio.run(check_all(repo, timeout_s=2))
        assert report.probed == 2, "Bedrock has no models list to probe"
        assert repo.get("claude").status == "healthy", "a passing models list brings it back"
        assert repo.get("gemini").status == "unhealthy", "a refused key takes it out"
        assert repo.get("bedrock").status == "healthy"
