"""One local stack (embedded parts, tiny model servers) shared by the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.procs import free_port
from devstack.stack import EmbeddedStack, StackOptions


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStack]:
    data_dir: Path = tmp_path_factory.mktemp("local-stack")
    options = StackOptions(data_dir=data_dir, port=free_port(), health_interval_s=1.0)
    with EmbeddedStack(options) as running:
        yield running
