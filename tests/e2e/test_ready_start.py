"""`make run` as a user sees it: once `GET /health` says 200, a chat completion gets a 200."""

from __future__ import annotations

import tempfile
from pathlib import Path

from devstack.procs import free_port
from devstack.ready_check import one_start


def test_a_chat_right_after_health_says_200_is_answered() -> None:
    # Its own data dir outside pytest's numbered temp dirs, which other runs may prune.
    with tempfile.TemporaryDirectory(prefix="mf-ready-") as data_dir:
        result = one_start(free_port(), Path(data_dir))
    assert result.chat_status == 200, result
    # The stack's "ready" line comes no earlier than readiness itself.
    assert result.health_at_ready_line == 200, result
