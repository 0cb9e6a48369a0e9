"""One tiny-model server for the whole session; tests that kill or drain servers start their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.model_server.harness import ModelServer


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def tiny_server(
    model_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModelServer]:
    server = ModelServer(
        {
            "MODEL_BACKEND": "tiny",
            "MODEL_CACHE_DIR": str(model_cache),
            "MODEL_SERVER_ENABLE_FAULTS": "1",
            "BACKEND_STALL_TIMEOUT_S": "3",
            "BACKEND_RESTART_BACKOFF_S": "1.0",
            "MAX_BODY_BYTES": "65536",
        },
        tmp_path_factory.mktemp("tiny-server") / "server.log",
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
