"""A small routing world for tests: a catalog of distinct models and instances to match."""

from __future__ import annotations

from routing.catalog import Catalog, ModelSpec, ModelVersionSpec
from routing.instances import Instance

NOW = 1_000_000.0


def make_catalog() -> Catalog:
    return Catalog(
        models=(
            ModelSpec(
                id="coder",
                capabilities=frozenset({"text", "chat", "coding", "tools"}),
                specialization={"coding": 0.95, "reasoning": 0.6, "chat": 0.4, "qa": 0.5},
                quality=0.8,
                cost_per_1m_input=0.5,
                cost_per_1m_output=1.5,
                context_window=16000,
                max_output_tokens=4096,
                tokens_per_second=80,
                fallback="generalist",
                versions=(ModelVersionSpec(version="v1"), ModelVersionSpec(version="v2", weight=0)),
                strategy="least_outstanding",
            ),
            ModelSpec(
                id="writer",
                capabilities=frozenset({"text", "chat", "creative"}),
                specialization={"creative": 0.95, "chat": 0.7, "qa": 0.4},
                quality=0.7,
                cost_per_1m_input=0.2,
                cost_per_1m_output=0.6,
                context_window=8000,
                tokens_per_second=60,
                strategy="round_robin",
            ),
            ModelSpec(
                id="generalist",
                capabilities=frozenset(
                    {"text", "chat", "vision", "tools", "research", "reasoning"}
                ),
                specialization={
                    "chat": 0.8,
                    "qa": 0.85,
                    "research": 0.9,
                    "reasoning": 0.85,
                    "vision": 0.9,
                    "coding": 0.6,
                    "creative": 0.6,
                },
                quality=0.9,
                cost_per_1m_input=3.0,
                cost_per_1m_output=15.0,
                context_window=128000,
                max_output_tokens=8192,
                tokens_per_second=40,
                strategy="latency",
            ),
            ModelSpec(
                id="tiny",
                capabilities=frozenset({"text", "chat"}),
                specialization={"chat": 0.6, "qa": 0.6},
                quality=0.3,
                instance_hour_usd=0.2,
                context_window=2048,
                max_output_tokens=512,
                tokens_per_second=200,
                strategy="cost",
            ),
        )
    )


def inst(model: str, n: int, version: str = "v1", **kw: object) -> Instance:
    fields: dict[str, object] = {
        "instance_id": f"{model}-{version}-{n}",
        "model": model,
        "version": version,
        "kind": "openai",
        "endpoint": f"http://127.0.0.1:{9000 + n}",
        "last_heartbeat": NOW - 1,
        "latency_ewma_ms": 100.0 + n,
    }
    fields.update(kw)
    return Instance(**fields)  # type: ignore[arg-type]


def make_snapshot() -> list[Instance]:
    return [
        inst("coder", 1),
        inst("coder", 2),
        inst("coder", 1, version="v2"),
        inst("writer", 1),
        inst("writer", 2),
        inst("generalist", 1),
        inst("generalist", 2, in_flight=3),
        inst("tiny", 1, tags={"hour_usd": "0.2"}),
    ]
