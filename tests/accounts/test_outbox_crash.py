"""The local usage outbox keeps every record a killed router had accepted.

The outbox commits in WAL mode without an fsync per record (it used to cost the client ~5 ms per
request); these tests pin what that trade keeps: a process killed with SIGKILL right after its
puts leaves every record behind for the drainer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from accounts.usage import OutboxSink, UsageRecord

ROOT = Path(__file__).resolve().parents[2]


def test_records_survive_sigkill_of_the_writer(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path[:0] = [{str(ROOT / "lambdas")!r}]
        from accounts.usage import OutboxSink, UsageRecord
        sink = OutboxSink({str(tmp_path)!r})
        for i in range(200):
            sink.put_sync(UsageRecord(request_id=f"r{{i}}", model="m", tokens_in=1))
        print("written", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: a crash
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert b"written" in proc.stdout
    sink = OutboxSink(tmp_path)
    try:
        assert sink.pending() == 200
        assert {r.request_id for r in sink.peek(500)} == {f"r{i}" for i in range(200)}
    finally:
        sink.close()


def test_batch_remove_and_sync_keep_the_rest(tmp_path: Path) -> None:
    sink = OutboxSink(tmp_path)
    try:
        for i in range(50):
            sink.put_sync(UsageRecord(request_id=f"r{i}", model="m"))
        sink.remove([f"r{i}" for i in range(40)])
        sink.sync()
        assert sink.pending() == 10
        # After a checkpoint the rows are in the main database file, not only in the WAL.
        assert os.path.getsize(tmp_path / "usage-outbox.sqlite3") > 0
    finally:
        sink.close()
