"""Which async HTTP client should the router use for its upstream hop? Measured, not assumed.

Sends the same small chat completion to the mock upstream (a separate process) with aiohttp
and with httpx.AsyncClient, interleaved in rounds: p50 latency at c=1 and requests per second
at c=32 for each, and the ratios. The router uses the winner (aiohttp).

Usage: python bench/bench_clients.py [--rounds 7] [--per-round 300] [--rps-requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT)]

from devstack.procs import base_env  # noqa: E402

BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
).encode()
HEADERS = {"Content-Type": "application/json"}
Send = Callable[[], Awaitable[None]]


async def serial(send: Send, n: int) -> float:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter()
        await send()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


async def rps(send: Send, total: int, concurrency: int = 32) -> float:
    left = total

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await send()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


async def run(url: str, a: argparse.Namespace) -> dict[str, float]:
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as ah,
        httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as hx,
    ):

        async def via_aiohttp() -> None:
            async with ah.post(url, data=BODY, headers=HEADERS) as resp:
                await resp.read()

        async def via_httpx() -> None:
            resp = await hx.post(url, content=BODY, headers=HEADERS)
            resp.read()

        for send in (via_aiohttp, via_httpx):
            await serial(send, 200)
        lat: dict[str, list[float]] = {"aiohttp": [], "httpx": []}
        for _ in range(a.rounds):
            lat["aiohttp"].append(await serial(via_aiohttp, a.per_round))
            lat["httpx"].append(await serial(via_httpx, a.per_round))
        thr = {
            "aiohttp": statistics.median(
                [await rps(via_aiohttp, a.rps_requests) for _ in range(3)]
            ),
            "httpx": statistics.median([await rps(via_httpx, a.rps_requests) for _ in range(3)]),
        }
    return {
        "aiohttp_p50": statistics.median(lat["aiohttp"]),
        "httpx_p50": statistics.median(lat["httpx"]),
        "aiohttp_rps": thr["aiohttp"],
        "httpx_rps": thr["httpx"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-round", type=int, default=300)
    parser.add_argument("--rps-requests", type=int, default=3000)
    a = parser.parse_args()
    up = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fault_upstream", "--model", "bench"],
        env=base_env(),
        stdout=subprocess.PIPE,
    )
    try:
        assert up.stdout is not None
        url = json.loads(up.stdout.readline())["url"] + "/v1/chat/completions"
        r = asyncio.run(run(url, a))
    finally:
        up.terminate()
        up.wait(10)
    print(f"c=1  p50: aiohttp {r['aiohttp_p50']:.3f} ms, httpx {r['httpx_p50']:.3f} ms")
    print(
        f"c=32 RPS: aiohttp {r['aiohttp_rps']:.0f}, httpx {r['httpx_rps']:.0f} "
        f"(aiohttp/httpx = {r['aiohttp_rps'] / r['httpx_rps']:.2f})"
    )


if __name__ == "__main__":
    main()
