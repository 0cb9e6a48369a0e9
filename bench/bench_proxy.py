"""Router-added latency and throughput against a mock OpenAI-compatible upstream on loopback.

Starts, as separate processes: the mock upstream, moto's DynamoDB server, and the router under
uvicorn (uvloop + httptools, one worker, as in Lambda Web Adapter). Then measures the same
small chat completion sent directly to the mock and through the router, interleaved in rounds
so drift on the machine hits both sides alike:

- added latency at c=1: median over rounds of (router round median - direct round median);
- throughput at c=32: requests per second both ways, and the ratio.

Usage: python bench/bench_proxy.py [--rounds 15] [--per-round 200] [--rps-requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "containers"), str(ROOT)]

from devstack.procs import base_env, free_port, wait_http  # noqa: E402

BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 8}
).encode()
HEADERS = {"Content-Type": "application/json"}


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


async def one(session: aiohttp.ClientSession, url: str) -> float:
    t0 = time.perf_counter()
    async with session.post(url, data=BODY, headers=HEADERS) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{url} answered {resp.status}")
    return (time.perf_counter() - t0) * 1000


async def serial(session: aiohttp.ClientSession, url: str, n: int) -> list[float]:
    return [await one(session, url) for _ in range(n)]


async def rps(session: aiohttp.ClientSession, url: str, total: int, concurrency: int) -> float:
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(session, url)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


async def measure(direct: str, routed: str, a: argparse.Namespace) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        for url in (direct, routed):
            await serial(session, url, 200)  # warm-up: connections, caches, JIT-free paths
        diffs, d_meds, r_meds = [], [], []
        for _ in range(a.rounds):
            d = statistics.median(await serial(session, direct, a.per_round))
            r = statistics.median(await serial(session, routed, a.per_round))
            d_meds.append(d)
            r_meds.append(r)
            diffs.append(r - d)
        d_rps = r_rps = 0.0
        d_list, r_list = [], []
        for _ in range(3):
            d_list.append(await rps(session, direct, a.rps_requests, 32))
            r_list.append(await rps(session, routed, a.rps_requests, 32))
        d_rps, r_rps = statistics.median(d_list), statistics.median(r_list)
        # c=32 latency under load, for the added-latency figure at concurrency.
        lat32_d = await _lat_at(session, direct, 32, a.rps_requests)
        lat32_r = await _lat_at(session, routed, 32, a.rps_requests)
    return {
        "direct_p50_ms": statistics.median(d_meds),
        "router_p50_ms": statistics.median(r_meds),
        "added_p50_ms_c1": statistics.median(diffs),
        "direct_rps_c32": d_rps,
        "router_rps_c32": r_rps,
        "direct_p50_ms_c32": lat32_d,
        "router_p50_ms_c32": lat32_r,
    }


async def _lat_at(session: aiohttp.ClientSession, url: str, conc: int, total: int) -> float:
    samples: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            samples.append(await one(session, url))

    await asyncio.gather(*(worker() for _ in range(conc)))
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--rps-requests", type=int, default=3000)
    a = parser.parse_args()
    env = base_env()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        up = start([sys.executable, "-m", "tests.support.fault_upstream", "--model", "bench"], env)
        procs.append(up)
        assert up.stdout is not None
        upstream = json.loads(up.stdout.readline())["url"]
        moto_port = free_port()
        procs.append(
            start(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(moto_port)], env
            )
        )
        moto = f"http://127.0.0.1:{moto_port}"
        wait_http(moto + "/moto-api/", 60)

        import boto3

        from registry.repository import InstanceRepository, create_table
        from routing.instances import Instance

        client = boto3.client(
            "dynamodb",
            endpoint_url=moto,
            region_name="us-east-1",
            aws_access_key_id="b",
            aws_secret_access_key="b",
        )
        create_table(client, "bench")
        InstanceRepository(client, "bench").put(
            Instance(
                "bench-0",
                "bench",
                "v1",
                "openai",
                upstream,
                last_heartbeat=time.time(),
                lease_seconds=0,
            )
        )
        port = free_port()
        renv = dict(env)
        renv.update(
            {
                "MOTHERFLUXER_INSTANCES_TABLE": "bench",
                "MOTHERFLUXER_DYNAMODB_ENDPOINT": moto,
                "MOTHERFLUXER_CATALOG": json.dumps({"models": [{"id": "bench"}]}),
                "MOTHERFLUXER_ADMIN_KEY": "bench-admin-key-0123456789",
                "MOTHERFLUXER_SIGNING_KEY": "bench-signing-key-0123456789",
                "LOG_LEVEL": "WARNING",
                "AWS_ACCESS_KEY_ID": "b",
                "AWS_SECRET_ACCESS_KEY": "b",
            }
        )
        procs.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "router.lambda_web:app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--loop",
                    "uvloop",
                    "--http",
                    "httptools",
                    "--log-level",
                    "warning",
                ],
                renv,
            )
        )
        router = f"http://127.0.0.1:{port}"
        wait_http(router + "/health", 60)
        result = asyncio.run(
            measure(upstream + "/v1/chat/completions", router + "/v1/chat/completions", a)
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    r = result
    print(f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}")
    print(f"c=1  direct p50 {r['direct_p50_ms']:.3f} ms, via router {r['router_p50_ms']:.3f} ms")
    print(f"c=1  router-added latency (median of {a.rounds} rounds): {r['added_p50_ms_c1']:.3f} ms")
    added32 = r["router_p50_ms_c32"] - r["direct_p50_ms_c32"]
    print(
        f"c=32 p50 direct {r['direct_p50_ms_c32']:.2f} ms, "
        f"via router {r['router_p50_ms_c32']:.2f} ms (added {added32:.2f} ms)"
    )
    ratio = r["router_rps_c32"] / r["direct_rps_c32"]
    print(
        f"c=32 RPS direct {r['direct_rps_c32']:.0f}, via router {r['router_rps_c32']:.0f} "
        f"(router/direct = {ratio:.2f})"
    )


if __name__ == "__main__":
    main()
