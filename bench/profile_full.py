"""Where the full stack's time goes: py-spy samples the router while a registered key loads it.

Starts the same stack as bench_peer.py (accounts on, the mock registered through the public
API), drives buffered chat completions (c=32 unless --concurrency) for --seconds, and samples
the router process with py-spy. Prints the functions that hold the most samples, inclusive
(the call paths that cost) and by self time (where the CPU actually is).

Usage: python bench/profile_full.py [--seconds 15] [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_peer import (
    ROOT,
    Side,
    bench_catalog,
    body,
    one,
    register_mock,
    registered_key,
)

from devstack.procs import base_env, free_port
from devstack.stack import EmbeddedStack, StackOptions


async def load(side: Side, seconds: float, concurrency: int = 32) -> int:
    done = 0
    end = time.monotonic() + seconds
    data = body(False)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < end:
                await one(session, side, data)
                done += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done


def summarize(raw: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for frame in set(frames):
            inclusive[frame] += n
        own[frames[-1]] += n
    print(f"\n{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\ntop {top} by {title} share:")
        for frame, n in counter.most_common(top):
            print(f"  {n / total:6.1%}  {frame[:150]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=32)
    a = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    catalog = work / "catalog.json"
    bench_catalog(catalog)
    stack = EmbeddedStack(
        StackOptions(
            data_dir=work / "local",
            port=free_port(),
            catalog_path=catalog,
            models=["bench"],
            instances_per_model=0,
            router_env={"LOG_LEVEL": "WARNING"},
        )
    )
    stop = threading.Event()
    mock = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "peer_mock.py")],
        env=base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert mock.stdout is not None
        upstream = json.loads(mock.stdout.readline())["url"]
        stack.start()
        register_mock(stack, upstream, stop)
        key = registered_key(stack)
        side = Side(
            "motherfluxer",
            stack.url + "/v1/chat/completions",
            {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        asyncio.run(load(side, 2))  # warm-up
        assert stack.router is not None
        raw = work / "router.raw"
        spy = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "--pid",
                str(stack.router.proc.pid),
                "--duration",
                str(int(a.seconds)),
                "--rate",
                "250",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        served = asyncio.run(load(side, a.seconds, a.concurrency))
        spy.wait(timeout=60)
        print(f"served {served} requests in {a.seconds:.0f} s ({served / a.seconds:.0f} RPS)")
        summarize(raw, a.top)
    finally:
        stop.set()
        stack.stop()
        mock.terminate()
        mock.wait(timeout=10)


if __name__ == "__main__":
    main()
