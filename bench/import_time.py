"""Cold import cost of the Lambda entry modules: median of 15 fresh interpreters each.

`router.handler` is what Lambda imports at init; the app itself is built on the first
invocation, so `router.main` (FastAPI and the app modules) is reported as well.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15


def cold_import(module: str) -> float:
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'lambdas'}:{ROOT}", PYTHONDONTWRITEBYTECODE="0")
    samples = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def main() -> None:
    baseline = cold_import("sys")
    print(f"bare interpreter start: {baseline:.0f} ms (median of {RUNS})")
    for module in ("router.handler", "health_checker.probe", "router.main", "routing.classifier"):
        ms = cold_import(module)
        print(f"import {module}: {ms:.0f} ms total, {ms - baseline:.0f} ms above bare start")


if __name__ == "__main__":
    main()
