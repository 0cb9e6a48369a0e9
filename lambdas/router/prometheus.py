"""Prometheus exposition of the router's metrics: `GET /metrics` (admin key, text format).

The same series as the EMF documents (`contracts.metrics`), with `model` and `version` as
labels, kept in this process's own registry and fed by `RouterMetrics`. It serves where the
router is a long-lived process (`make run`, a container); in Lambda every execution
environment would have its own registry, so RouterMetrics does not feed it there and
CloudWatch is the source. Healthy instances are read from the router's instance snapshot at
scrape time. `prometheus_client` is imported on first use, not at start-up.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from router.authz import require_admin

_MV = ("model", "version")
# Seconds; from a sub-millisecond cache hit to a long generation.
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_OVERHEAD = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)


@dataclass(frozen=True)
class _Series:
    registry: Any
    requests: Any
    errors: Any
    fallbacks: Any
    retries: Any
    tokens: Any
    latency: Any
    overhead: Any
    counted: dict[str, Any]
    healthy: Any
    queued: Any


@cache
def _series() -> _Series:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    reg = CollectorRegistry(auto_describe=True)

    def counter(name: str, doc: str, labels: tuple[str, ...] = _MV) -> Any:
        return Counter(f"motherfluxer_{name}", doc, labels, registry=reg)

    return _Series(
        registry=reg,
        requests=counter("requests", "Routed requests", (*_MV, "code")),
        errors=counter("errors", "Requests answered with 4xx/5xx"),
        fallbacks=counter("fallbacks", "Requests answered by a fallback"),
        retries=counter("retries", "Extra upstream attempts"),
        tokens=counter("tokens", "Tokens", (*_MV, "direction")),
        latency=Histogram(
            "motherfluxer_request_latency_seconds",
            "Request latency",
            _MV,
            buckets=_LATENCY,
            registry=reg,
        ),
        overhead=Histogram(
            "motherfluxer_overhead_seconds",
            "Router overhead (selection and bookkeeping)",
            _MV,
            buckets=_OVERHEAD,
            registry=reg,
        ),
        # RouterMetrics.count() names -> the counter that carries them.
        counted={
            "CostUsd": counter("cost_usd", "Cost charged (USD)", ("model", "version")),
            "RateLimited": counter("rate_limited", "Rejected by rate limits", ("tier",)),
            "BudgetRejected": counter("budget_rejected", "Rejected by budgets", ("model",)),
            "WakeRequests": counter("wake_requests", "Requests for a sleeping model", ("model",)),
            "QueueRejected": counter(
                "queue_rejected", "Refused by a full model's queue", ("model", "reason")
            ),
        },
        healthy=Gauge(
            "motherfluxer_healthy_instances", "Routable instances", ("model",), registry=reg
        ),
        queued=Gauge(
            "motherfluxer_queue_depth",
            "Requests waiting for a full model's slot (this process)",
            ("model",),
            registry=reg,
        ),
    )


@dataclass(frozen=True, slots=True)
class _Children:
    """One model version's labelled series, looked up once instead of on every request."""

    latency: Any
    overhead: Any
    errors: Any
    fallbacks: Any
    retries: Any
    tokens_in: Any
    tokens_out: Any


_children: dict[tuple[str, str], _Children] = {}
_requests: dict[tuple[str, str, int], Any] = {}


def _for(model: str, version: str) -> _Children:
    found = _children.get((model, version))
    if found is None:
        s = _series()
        found = _children[(model, version)] = _Children(
            s.latency.labels(model, version),
            s.overhead.labels(model, version),
            s.errors.labels(model, version),
            s.fallbacks.labels(model, version),
            s.retries.labels(model, version),
            s.tokens.labels(model, version, "in"),
            s.tokens.labels(model, version, "out"),
        )
    return found


def observe(
    model: str,
    version: str,
    status: int,
    latency_ms: float,
    overhead_ms: float,
    attempts: int,
    fallback: bool,
    tokens_in: int | None,
    tokens_out: int | None,
) -> None:
    requests = _requests.get((model, version, status))
    if requests is None:
        requests = _requests[(model, version, status)] = _series().requests.labels(
            model, version, str(status)
        )
    requests.inc()
    c = _for(model, version)
    c.latency.observe(latency_ms / 1000)
    c.overhead.observe(overhead_ms / 1000)
    if status >= 400:
        c.errors.inc()
    if fallback:
        c.fallbacks.inc()
    if attempts > 1:
        c.retries.inc(attempts - 1)
    if tokens_in is not None:
        c.tokens_in.inc(tokens_in)
    if tokens_out is not None:
        c.tokens_out.inc(tokens_out)


def count(name: str, value: float, dims: dict[str, str]) -> None:
    counter = _series().counted.get(name)
    if counter is not None and value >= 0:
        counter.labels(*dims.values()).inc(value)


def exposition(
    healthy_by_model: dict[str, int], queued_by_model: dict[str, int] | None = None
) -> tuple[bytes, str]:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    s = _series()
    for model, healthy in healthy_by_model.items():
        s.healthy.labels(model).set(healthy)
    for model, queued in (queued_by_model or {}).items():
        s.queued.labels(model).set(queued)
    return generate_latest(s.registry), CONTENT_TYPE_LATEST


router = APIRouter()


@router.get("/metrics", dependencies=[Depends(require_admin)], include_in_schema=False)
async def metrics(request: Request) -> Response:
    svc = request.app.state.services
    snap = await svc.store.get()
    now = time.time()
    healthy = {
        spec.id: sum(1 for i in snap.instances if i.model == spec.id and i.is_routable(now))
        for spec in svc.catalog.models
    }
    queue = svc.dispatcher.queue
    queued = {spec.id: queue.depth(spec.id) for spec in svc.catalog.models}
    body, content_type = exposition(healthy, queued)
    return Response(body, media_type=content_type)
