"""The CLI runs in-process against a real local stack (echo-backend model servers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from motherfluxer_cli import client as cli_client
from motherfluxer_cli.main import main
from tests.console.conftest import (  # noqa: F401 - same fixtures
    cognito_pool,
    console_stack,
    hosted_ui,
)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path) -> Any:
    """No key or URL from the environment or a developer's .local/ leaks into a test."""
    for name in ("MOTHERFLUXER_URL", "MOTHERFLUXER_API_KEY", "MOTHERFLUXER_ADMIN_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MOTHERFLUXER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli_client, "CHECKOUT", tmp_path / "checkout")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], isolated: Any) -> Callable[..., tuple[int, str, str]]:
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def admin_cli(cli, console_stack) -> Callable[..., Any]:  # noqa: F811
    """Runs an admin command with --json and returns (exit code, parsed output)."""

    def run(*argv: str) -> tuple[int, Any]:
        code, out, err = cli(
            "--url", console_stack.url, "--key", console_stack.admin_key, "--json", *argv
        )
        return code, (json.loads(out) if out.strip() else err)

    return run
