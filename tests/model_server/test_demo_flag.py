"""MOTHERFLUXER_DEMO selects the tiny model; the health-check numbers live in one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_server import healthcheck
from model_server.config import Settings
from tests.model_server.harness import REPO, ModelServer


def test_dockerfile_healthcheck_is_the_contract() -> None:
    dockerfile = (REPO / "containers" / "Dockerfile").read_text()
    assert healthcheck.dockerfile_healthcheck() in dockerfile
    assert dockerfile.count("HEALTHCHECK ") == 1
    # ECS rejects a container health-check start period above 300 s.
    assert 0 < healthcheck.START_PERIOD_S <= 300


@pytest.mark.parametrize(
    ("flag", "backend", "name"), [("1", "tiny", "tiny-demo"), ("false", "auto", "microsoft/phi-2")]
)
def test_demo_flag_overrides_the_configured_model(
    monkeypatch: pytest.MonkeyPatch, flag: str, backend: str, name: str
) -> None:
    monkeypatch.setenv("MODEL_ID", "microsoft/phi-2")
    monkeypatch.setenv("MOTHERFLUXER_DEMO", flag)
    monkeypatch.delenv("MODEL_BACKEND", raising=False)
    monkeypatch.delenv("SERVED_MODEL_NAME", raising=False)
    settings = Settings.from_env()
    assert (settings.backend, settings.served_model_name) == (backend, name)
    monkeypatch.setenv("SERVED_MODEL_NAME", "tiny-chat")
    assert Settings.from_env().served_model_name == "tiny-chat"


@pytest.mark.slow
def test_a_demo_server_never_loads_the_configured_model(model_cache: Path, tmp_path: Path) -> None:
    # With the hub offline, loading microsoft/phi-2 would fail: only the flag lets this start.
    server = ModelServer(
        {
            "MODEL_ID": "microsoft/phi-2",
            "MOTHERFLUXER_DEMO": "true",
            "SERVED_MODEL_NAME": "tiny-chat",
            "MODEL_CACHE_DIR": str(model_cache),
            "BACKEND_WARM_STANDBY": "0",
        },
        tmp_path / "server.log",
    )
    try:
        server.wait_ready(timeout=90)
        health = server.get("/health").json()
        assert (health["backend"], health["demo"], health["model"]) == ("tiny", True, "tiny-chat")
        assert health["demo_forced"] is True
        assert health["healthcheck"]["start_period_s"] == healthcheck.START_PERIOD_S
    finally:
        assert server.stop() == 0
