"""The local stack's usage drainer runs as its own process and drains once more when stopped."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from test_accounts_usage import ledger_ids

from accounts.usage import OutboxSink, UsageRecord

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_the_drainer_process_moves_records_and_drains_on_sigterm(
    pg, engine, outbox_dir
) -> None:
    sink = OutboxSink(outbox_dir)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("lambdas", ".")),
        "MOTHERFLUXER_DATA_DIR": str(outbox_dir),
        "MOTHERFLUXER_DATABASE_URL": pg.url(),
        # A long interval: the last records can only arrive through the drain at SIGTERM.
        "MOTHERFLUXER_OUTBOX_DRAIN_INTERVAL_S": "30",
    }
    await sink.put_many([UsageRecord(request_id=f"proc-a{i}", model="m") for i in range(50)])
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "accounts.outbox_process", env=env
    )
    try:
        for _ in range(600):  # up to a minute
            if not sink.pending():
                break
            await asyncio.sleep(0.1)
        assert sink.pending() == 0
        await sink.put_many([UsageRecord(request_id=f"proc-b{i}", model="m") for i in range(7)])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 60) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
    ids = set(ledger_ids(pg))
    assert {f"proc-a{i}" for i in range(50)} <= ids
    assert {f"proc-b{i}" for i in range(7)} <= ids
    assert sink.pending() == 0
