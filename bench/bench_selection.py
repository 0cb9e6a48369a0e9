"""Routing decision latency: classifier + rules + scoring + rollout + instance choice.

    python bench/bench_selection.py [--decisions 20000] [--models 50] [--instances 20]

Builds a synthetic catalog of `--models` models with `--instances` instances each (some of them
unhealthy, draining or ejected), a few rules and a rollout table, then times `decide()` plus the
first instance pick for varied prompts taken round-robin from the labelled prompt files, in
auto, manual, hybrid and list modes. The snapshot index is built once, as the router does on each
snapshot refresh; its build time is printed separately.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lambdas"))

from routing.catalog import TASKS, Catalog, ModelSpec, ModelVersionSpec  # noqa: E402
from routing.engine import decide  # noqa: E402
from routing.instances import Instance  # noqa: E402
from routing.request_view import RequestView  # noqa: E402
from routing.rollouts import RolloutTable  # noqa: E402
from routing.rules import load_rules  # noqa: E402
from routing.snapshot import SnapshotIndex  # noqa: E402
from routing.strategies import StrategyState  # noqa: E402

NOW = 1_700_000_000.0
STRATS = (
    "round_robin",
    "weighted",
    "least_outstanding",
    "latency",
    "power_of_two",
    "cost",
    "availability",
)


def build_world(
    n_models: int, n_instances: int, rng: random.Random
) -> tuple[Catalog, list[Instance]]:
    specs = []
    caps_pool = ["coding", "reasoning", "creative", "research", "vision", "tools"]
    for m in range(n_models):
        caps = {"text", "chat", *rng.sample(caps_pool, 3)}
        specs.append(
            ModelSpec(
                id=f"model-{m:02d}",
                capabilities=frozenset(caps),
                specialization={t: round(rng.random(), 2) for t in TASKS},
                quality=round(rng.uniform(0.3, 0.95), 2),
                cost_per_1m_input=round(rng.uniform(0, 5), 2),
                cost_per_1m_output=round(rng.uniform(0, 15), 2),
                context_window=rng.choice([4096, 8192, 32768, 128000]),
                tokens_per_second=rng.uniform(20, 200),
                versions=(
                    ModelVersionSpec(version="v1", weight=90),
                    ModelVersionSpec(version="v2", weight=10),
                ),
                strategy=STRATS[m % len(STRATS)],
            )
        )
    instances = []
    for spec in specs:
        for i in range(n_instances):
            roll = rng.random()
            instances.append(
                Instance(
                    instance_id=f"{spec.id}-{i}",
                    model=spec.id,
                    version="v2" if i % 5 == 0 else "v1",
                    kind="openai",
                    endpoint=f"http://10.0.0.{i}:8080",
                    status="unhealthy" if roll < 0.05 else "draining" if roll < 0.08 else "healthy",
                    last_heartbeat=NOW - rng.uniform(0, 20),
                    in_flight=rng.randrange(0, 8),
                    queue_depth=rng.randrange(0, 3),
                    latency_ewma_ms=rng.uniform(20, 900),
                    weight=rng.choice([1.0, 2.0, 3.0]),
                    ejected_until=NOW + 30 if 0.08 <= roll < 0.10 else 0.0,
                    tags={"hour_usd": f"{rng.uniform(0.5, 4):.2f}", "max_concurrency": "8"},
                )
            )
    return Catalog(models=tuple(specs)), instances


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=20_000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(1234)
    catalog, instances = build_world(args.models, args.instances, rng)
    t0 = time.perf_counter()
    index = SnapshotIndex(instances, NOW)
    index_ms = (time.perf_counter() - t0) * 1000
    rollouts = RolloutTable(catalog)
    rules = load_rules(
        [
            {
                "name": "huge",
                "when": [{"field": "estimated_tokens", "op": "gt", "value": 50000}],
                "action": {"route_to": "model-00"},
            },
            {
                "name": "free",
                "when": [{"field": "tier", "op": "eq", "value": "free"}],
                "action": {"strategy": "cost"},
            },
            {
                "name": "team",
                "when": [{"field": "metadata", "key": "team", "op": "matches", "value": "^ml-"}],
                "action": {"fallback": ["model-01", "model-02"]},
            },
        ],
        catalog,
    )
    prompts = []
    for name in ("prompts_heldout.jsonl", "prompts_train.jsonl"):
        for line in (REPO / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            prompts.append(json.loads(line)["prompt"])
    views = []
    for i in range(min(len(prompts), 2000)):
        kind = i % 10
        kw: dict = {
            "prompt": prompts[i % len(prompts)],
            "user_id": f"user-{i % 97}" if i % 3 else None,
        }
        if kind == 7:
            kw["model"] = f"model-{i % args.models:02d}"
        elif kind == 8:
            kw["preferred_model"] = f"model-{i % args.models:02d}"
        elif kind == 9:
            kw["model"] = [f"model-{(i + k) % args.models:02d}" for k in range(3)]
        else:
            kw["auto_select"] = True
        if i % 4 == 0:
            kw["tier"] = "free"
        if kind == 1:
            kw["image_count"] = 1
        views.append(RequestView(**kw))
    state = StrategyState()
    # Warm-up loads the classifier weights and primes caches, as the first request would.
    for v in views[:200]:
        decide(v, catalog, index, rules, rollouts, NOW, rng, state).next_instance()
    # Long-lived objects (catalog, index, weights) are moved out of the collector's way, as a
    # router process would after start-up.
    gc.collect()
    gc.freeze()
    samples, cpu = [], []
    misses = 0
    perf, cpu_ns = time.perf_counter, time.thread_time_ns
    for n in range(args.decisions):
        view = views[n % len(views)]
        start, start_cpu = perf(), cpu_ns()
        d = decide(view, catalog, index, rules, rollouts, NOW, rng, state)
        picked = d.next_instance()
        cpu.append((cpu_ns() - start_cpu) / 1e6)
        samples.append((perf() - start) * 1000)
        misses += picked is None
    samples.sort()
    cpu.sort()

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    p = lambda q: pct(samples, q)  # noqa: E731
    print(f"world: {args.models} models x {args.instances} instances = {len(instances)} instances")
    print(f"snapshot index build: {index_ms:.2f} ms (once per snapshot refresh)")
    print(
        f"decisions: {len(samples)}  p50 {p(0.50):.3f} ms  p90 {p(0.90):.3f} ms  "
        f"p99 {p(0.99):.3f} ms  max {samples[-1]:.3f} ms  mean {statistics.fmean(samples):.3f} ms"
    )
    print(
        f"cpu time per decision: p50 {pct(cpu, 0.5):.3f} ms  p99 {pct(cpu, 0.99):.3f} ms "
        "(excludes time the process was descheduled)"
    )
    print(f"decisions without an instance: {misses}; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
