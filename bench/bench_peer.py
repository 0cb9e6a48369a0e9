"""MotherFluxer's full stack side by side with LiteLLM's proxy: one run, one mock, one client.

What runs, all on 127.0.0.1:
- one mock OpenAI upstream (bench/peer_mock.py);
- LiteLLM's proxy in front of it (one worker, a master key), from its own venv
  (bench/.peer-venv, git-ignored), installed from the package registry the first time;
- MotherFluxer's embedded local stack with accounts on (PostgreSQL, Redis, moto), a registered
  user's key whose per-minute limits are set high enough that the load measures overhead, not 429s.
  The mock joins it as an instance through the public registration API (admin token, register,
  heartbeats), exactly as a model container would.

What it reports (rounds interleaved so machine drift hits every side alike):
- c=1 added latency: the median over rounds of (proxy round median - direct round median);
- c=32 requests per second, and each proxy's share of direct;
- streamed time to first byte added, the same way as c=1;
- chunk relay rate of one long stream (--chunks, default 2,000);
- RSS of each proxy's process tree after the run;
- the targets of issue 13 and whether this run met them.

Usage: python bench/bench_peer.py [--rounds 9] [--per-round 100] [--rps-requests 2000]
       [--router-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lambdas"), str(ROOT / "containers"), str(ROOT)]

from devstack.procs import base_env, free_port, wait_http  # noqa: E402
from devstack.stack import EmbeddedStack, StackOptions  # noqa: E402

LITELLM = "litellm[proxy]==1.108.7"
PEER_VENV = ROOT / "bench" / ".peer-venv"
MASTER_KEY = "sk-bench-master-0123456789"
HIGH = {"per_key_rpm": 10_000_000, "per_key_tpm": 10_000_000_000}


@dataclass
class Side:
    name: str
    url: str
    headers: dict[str, str]


def body(stream: bool, max_tokens: int = 8) -> bytes:
    doc: dict[str, object] = {
        "model": "bench",
        "messages": [{"role": "user", "content": "hello"}],
        "max_tokens": max_tokens,
    }
    if stream:
        doc["stream"] = True
    return json.dumps(doc).encode()


# -- load --------------------------------------------------------------------------------------
async def one(session: aiohttp.ClientSession, side: Side, data: bytes) -> float:
    t0 = time.perf_counter()
    async with session.post(side.url, data=data, headers=side.headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{side.name} answered {resp.status}: {(await resp.read())[:200]}")
    return (time.perf_counter() - t0) * 1000


async def ttfb(session: aiohttp.ClientSession, side: Side, data: bytes) -> float:
    """Milliseconds until the first body bytes of a stream arrive (then drain the rest)."""
    t0 = time.perf_counter()
    async with session.post(side.url, data=data, headers=side.headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{side.name} stream answered {resp.status}")
        await resp.content.readany()
        first = (time.perf_counter() - t0) * 1000
        await resp.read()
    return first


async def relay_rate(session: aiohttp.ClientSession, side: Side, chunks: int) -> float:
    t0 = time.perf_counter()
    seen = 0
    async with session.post(side.url, data=body(True, chunks), headers=side.headers) as resp:
        async for line in resp.content:
            if line.startswith(b"data: {"):
                seen += 1
    elapsed = time.perf_counter() - t0
    if seen < chunks:
        raise RuntimeError(f"{side.name} relayed {seen} of {chunks} chunks")
    return seen / elapsed


async def rps(session: aiohttp.ClientSession, side: Side, total: int, concurrency: int) -> float:
    remaining = total
    data = body(False)

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one(session, side, data)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - t0)


async def measure(sides: list[Side], a: argparse.Namespace) -> dict[str, dict[str, float]]:
    direct, proxies = sides[0], sides[1:]
    out: dict[str, dict[str, float]] = {s.name: {} for s in sides}
    plain, streamed = body(False), body(True)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for side in sides:  # warm-up: connections, caches, lazy imports
            for _ in range(100):
                await one(session, side, plain)
            for _ in range(20):
                await ttfb(session, side, streamed)
        added: dict[str, list[float]] = {p.name: [] for p in proxies}
        added_ttfb: dict[str, list[float]] = {p.name: [] for p in proxies}
        meds: dict[str, list[float]] = {s.name: [] for s in sides}
        for _ in range(a.rounds):
            round_med = {}
            round_ttfb = {}
            for side in sides:
                samples = [await one(session, side, plain) for _ in range(a.per_round)]
                round_med[side.name] = statistics.median(samples)
                meds[side.name].append(round_med[side.name])
                firsts = [await ttfb(session, side, streamed) for _ in range(a.per_round // 4)]
                round_ttfb[side.name] = statistics.median(firsts)
            for p in proxies:
                added[p.name].append(round_med[p.name] - round_med[direct.name])
                added_ttfb[p.name].append(round_ttfb[p.name] - round_ttfb[direct.name])
        rates: dict[str, list[float]] = {s.name: [] for s in sides}
        relays: dict[str, list[float]] = {s.name: [] for s in sides}
        for _ in range(3):
            for side in sides:
                rates[side.name].append(await rps(session, side, a.rps_requests, 32))
                relays[side.name].append(await relay_rate(session, side, a.chunks))
    for side in sides:
        out[side.name]["p50_ms_c1"] = statistics.median(meds[side.name])
        out[side.name]["rps_c32"] = statistics.median(rates[side.name])
        out[side.name]["chunks_per_s"] = statistics.median(relays[side.name])
    for p in proxies:
        out[p.name]["added_ms_c1"] = statistics.median(added[p.name])
        out[p.name]["added_ttfb_ms"] = statistics.median(added_ttfb[p.name])
    return out


# -- processes ---------------------------------------------------------------------------------
def ensure_litellm() -> Path:
    exe = PEER_VENV / "bin" / "litellm"
    if exe.exists():
        return exe
    print(f"installing {LITELLM} into {PEER_VENV} (first run only) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [
            str(PEER_VENV / "bin" / "pip"),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            LITELLM,
        ],
        check=True,
    )
    return exe


def start_litellm(exe: Path, upstream: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        "  - model_name: bench\n"
        "    litellm_params:\n"
        "      model: openai/bench\n"
        f"      api_base: {upstream}/v1\n"
        "      api_key: sk-upstream-unused\n"
        "general_settings:\n"
        f"  master_key: {MASTER_KEY}\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
    )
    port = free_port()
    env = base_env()
    # Without this LiteLLM fetches its price map from the internet at import time.
    env.update({"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"})
    proc = subprocess.Popen(
        [
            str(exe),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env=env,
        stdout=(workdir / "litellm.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health/liveliness", 180, proc)
    return proc, url


def bench_catalog(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "models": [
                    {
                        "id": "bench",
                        "capabilities": ["text", "chat"],
                        "cost_per_1m_input": 0.1,
                        "cost_per_1m_output": 0.2,
                        "context_window": 16384,
                        "max_output_tokens": 8192,
                        "versions": [{"version": "v1", "weight": 100}],
                    }
                ],
                "accounts": {"limits": {"demo": {}, "registered": HIGH, "admin": {}}},
                # The mock joins through registration after start-up, as a container would.
                "readiness": {"models": []},
            }
        )
    )


def post(url: str, key: str, doc: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        url,
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def register_mock(stack: EmbeddedStack, upstream: str, stop: threading.Event) -> None:
    """Join the mock to the stack the way a model container does, and keep it heartbeating."""
    token = post(stack.url + "/admin/registration-tokens", stack.admin_key, {"model": "bench"})
    reg = post(
        stack.url + "/instances/register",
        "",
        {
            "model": "bench",
            "version": "v1",
            "kind": "openai",
            "base_url": upstream,
            "token": token["token"],
        },
    )
    iid, cred = str(reg["instance_id"]), str(reg["credential"])
    interval = float(reg.get("heartbeat_interval_s") or 2)  # type: ignore[arg-type]

    def beat() -> None:
        while not stop.wait(interval):
            try:
                post(f"{stack.url}/instances/{iid}/heartbeat", cred, {"in_flight": 0})
            except Exception as exc:  # a missed beat shows up as 503s in the load, not here
                print(f"heartbeat failed: {exc}", file=sys.stderr)

    threading.Thread(target=beat, daemon=True, name="bench-heartbeat").start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with urllib.request.urlopen(stack.url + "/v1/models", timeout=5) as resp:
            data = json.loads(resp.read())["data"]
        if any(m["id"] == "bench" and m["status"]["healthy_instances"] for m in data):
            return
        time.sleep(0.3)
    raise TimeoutError("the registered mock never became routable")


def registered_key(stack: EmbeddedStack) -> str:
    user = post(
        stack.url + "/admin/users", stack.admin_key, {"name": "bench", "tier": "registered"}
    )
    key = post(f"{stack.url}/admin/users/{user['user_id']}/keys", stack.admin_key, {})
    return str(key["key"])


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants (LiteLLM forks its worker)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


# -- report ------------------------------------------------------------------------------------
def report(r: dict[str, dict[str, float]], rss: dict[str, float], a: argparse.Namespace) -> None:
    d, lite, mf = r["direct"], r["litellm"], r["motherfluxer"]
    print(
        f"\nmachine: {os.cpu_count()} cores, python {sys.version.split()[0]}, "
        f"{time.strftime('%Y-%m-%d')}; {a.rounds} rounds x {a.per_round}, c=32 x {a.rps_requests}, "
        f"{a.router_workers} MotherFluxer router process(es)"
    )
    rows = [
        (
            "c=1 p50",
            f"{d['p50_ms_c1']:.2f} ms",
            f"{lite['p50_ms_c1']:.2f} ms",
            f"{mf['p50_ms_c1']:.2f} ms",
        ),
        ("c=1 added latency", "", f"+{lite['added_ms_c1']:.2f} ms", f"+{mf['added_ms_c1']:.2f} ms"),
        ("c=32 RPS", f"{d['rps_c32']:,.0f}", f"{lite['rps_c32']:,.0f}", f"{mf['rps_c32']:,.0f}"),
        (
            "c=32 share of direct",
            "",
            f"{lite['rps_c32'] / d['rps_c32']:.1%}",
            f"{mf['rps_c32'] / d['rps_c32']:.1%}",
        ),
        (
            "stream TTFB added",
            "",
            f"+{lite['added_ttfb_ms']:.2f} ms",
            f"+{mf['added_ttfb_ms']:.2f} ms",
        ),
        (
            f"{a.chunks}-chunk relay",
            f"{d['chunks_per_s']:,.0f}/s",
            f"{lite['chunks_per_s']:,.0f}/s",
            f"{mf['chunks_per_s']:,.0f}/s",
        ),
        ("proxy RSS after run", "", f"{rss['litellm']:.0f} MB", f"{rss['motherfluxer']:.0f} MB"),
    ]
    print(f"| {'':24} | {'direct mock':>12} | {'LiteLLM proxy':>14} | {'MotherFluxer full':>18} |")
    print(f"| {'-' * 24} | {'-' * 11}: | {'-' * 13}: | {'-' * 17}: |")
    for name, *cells in rows:
        print(f"| {name:24} | {cells[0]:>12} | {cells[1]:>14} | {cells[2]:>18} |")
    targets = [
        ("added c=1 <= 1.0 ms", mf["added_ms_c1"] <= 1.0),
        ("added c=1 <= 1/13 of LiteLLM's", mf["added_ms_c1"] <= lite["added_ms_c1"] / 13),
        ("c=32 >= 1,000 RPS", mf["rps_c32"] >= 1000),
        ("c=32 >= 10x LiteLLM", mf["rps_c32"] >= 10 * lite["rps_c32"]),
        ("stream TTFB added <= 1.5 ms", mf["added_ttfb_ms"] <= 1.5),
        ("chunk relay >= 20,000/s", mf["chunks_per_s"] >= 20_000),
        ("router RSS <= 150 MB", rss["motherfluxer"] <= 150),
    ]
    print(
        "\ntargets (issue 13): "
        + "; ".join(f"{n}: {'met' if ok else 'MISSED'}" for n, ok in targets)
    )
    print(
        "ratios: MotherFluxer/LiteLLM added latency "
        f"{mf['added_ms_c1'] / lite['added_ms_c1']:.3f}, "
        f"RPS {mf['rps_c32'] / lite['rps_c32']:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--rps-requests", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument(
        "--router-workers",
        type=int,
        default=1,
        help="MotherFluxer router processes behind its one port (the targets are for 1)",
    )
    a = parser.parse_args()
    exe = ensure_litellm()
    work = Path(tempfile.mkdtemp(prefix="bench-peer-"))
    procs: list[subprocess.Popen[bytes]] = []
    stop = threading.Event()
    catalog = work / "catalog.json"
    bench_catalog(catalog)
    stack = EmbeddedStack(
        StackOptions(
            data_dir=work / "local",
            port=free_port(),
            catalog_path=catalog,
            models=["bench"],
            instances_per_model=0,
            router_env={
                "LOG_LEVEL": "WARNING",
                "MOTHERFLUXER_ROUTER_WORKERS": str(a.router_workers),
            },
        )
    )
    try:
        mock = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "peer_mock.py")],
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        procs.append(mock)
        assert mock.stdout is not None
        upstream = json.loads(mock.stdout.readline())["url"]
        lite, lite_url = start_litellm(exe, upstream, work)
        procs.append(lite)
        stack.start()
        register_mock(stack, upstream, stop)
        key = registered_key(stack)
        sides = [
            Side("direct", upstream + "/v1/chat/completions", {"Content-Type": "application/json"}),
            Side(
                "litellm",
                lite_url + "/v1/chat/completions",
                {"Content-Type": "application/json", "Authorization": f"Bearer {MASTER_KEY}"},
            ),
            Side(
                "motherfluxer",
                stack.url + "/v1/chat/completions",
                {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            ),
        ]
        result = asyncio.run(measure(sides, a))
        assert stack.router is not None
        rss = {"litellm": tree_rss_mb(lite.pid), "motherfluxer": tree_rss_mb(stack.router.proc.pid)}
    finally:
        stop.set()
        stack.stop()
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    report(result, rss, a)


if __name__ == "__main__":
    main()
