"""Start the local stack the way a user does, poll `GET /health` until 200, then chat at once.

The check behind issue 9's readiness promise: a client that trusts `/health` must never be told
"model not served". Each start is `python -m devstack` in its own process, stopped with SIGINT.

Usage: python -m devstack.ready_check [--starts 5] [--port 8181]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHAT = {"model": "auto", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4}


@dataclass
class StartResult:
    health_wait_s: float
    chat_status: int
    # What /health said the moment the "ready" line was printed (None: no ready line seen).
    health_at_ready_line: int | None


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def _chat(base: str) -> int:
    req = urllib.request.Request(
        base + "/v1/chat/completions",
        data=json.dumps(CHAT).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def one_start(port: int, data_dir: Path, timeout_s: float = 240.0) -> StartResult:
    env = dict(os.environ, PORT=str(port), MOTHERFLUXER_DATA_DIR=str(data_dir))
    env["PYTHONPATH"] = os.pathsep.join(str(ROOT / p) for p in ("lambdas", "containers", "."))
    base = f"http://127.0.0.1:{port}"
    at_ready_line: list[int] = []
    with (data_dir / "ready_check.log").open("wb") as log:
        cmd = [sys.executable, "-m", "devstack"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log)

        def watch() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if b"is ready" in line:
                    at_ready_line.append(_get(base + "/health"))

        threading.Thread(target=watch, daemon=True).start()
        started = time.monotonic()
        try:
            while _get(base + "/health") != 200:
                if proc.poll() is not None or time.monotonic() - started > timeout_s:
                    raise RuntimeError(f"stack exited or never became ready; see {log.name}")
                time.sleep(0.05)
            waited = time.monotonic() - started
            status = _chat(base)
            deadline = time.monotonic() + 30
            while not at_ready_line and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            return StartResult(waited, status, at_ready_line[0] if at_ready_line else None)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--port", type=int, default=8181)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for n in range(1, args.starts + 1):
        result = one_start(args.port, args.data_dir)
        ok = result.chat_status == 200 and result.health_at_ready_line == 200
        failures += not ok
        print(
            f"start {n}: /health 200 after {result.health_wait_s:.1f} s, "
            f"chat right after -> {result.chat_status}, "
            f"/health at the ready line -> {result.health_at_ready_line}",
            flush=True,
        )
    print(f"{args.starts - failures}/{args.starts} starts answered 200 right after /health")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
