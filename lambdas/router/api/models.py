"""`GET /v1/models` (OpenAI list shape plus metadata) and `GET /models/{id}` with live status."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request

from router.api.deps import services
from router.errors import NotFound
from router.snapshot import Snapshot
from routing.catalog import ModelSpec

router = APIRouter()

_CREATED = 1_767_225_600  # 2026-01-01: a stable `created` for configured models.


def _live(spec: ModelSpec, snap: Snapshot, now: float, router_queued: int = 0) -> dict[str, Any]:
    mine = [i for i in snap.instances if i.model == spec.id]
    healthy = [i for i in mine if i.is_routable(now)]
    latencies = [i.latency_ewma_ms for i in healthy if i.latency_ewma_ms > 0]
    return {
        "instances": len(mine),
        "healthy_instances": len(healthy),
        "in_flight": sum(i.in_flight for i in mine),
        "queue_depth": sum(i.queue_depth for i in mine),
        # Requests this router process holds for the model's free slot (dispatch.queue).
        "router_queue_depth": router_queued,
        "latency_ewma_ms": round(sum(latencies) / len(latencies), 3) if latencies else None,
        "versions_live": sorted({i.version for i in healthy}),
        "available": bool(healthy),
    }


def _metadata(spec: ModelSpec) -> dict[str, Any]:
    return {
        "display_name": spec.display_name or spec.id,
        "description": spec.description,
        "capabilities": sorted(spec.capabilities),
        "provider": spec.provider,
        "cost_per_1m_cached_input": spec.cost_per_1m_cached_input,
        "cost_per_1m_cache_write": spec.cost_per_1m_cache_write,
        "specialization": dict(spec.specialization),
        "quality": spec.quality,
        "cost_per_1m_input": spec.cost_per_1m_input,
        "cost_per_1m_output": spec.cost_per_1m_output,
        "instance_hour_usd": spec.instance_hour_usd,
        "context_window": spec.context_window,
        "max_output_tokens": spec.max_output_tokens,
        "tokens_per_second": spec.tokens_per_second,
        "fallback": spec.fallback,
        "versions": [v.model_dump() for v in spec.versions],
        "strategy": spec.strategy,
        "demo": spec.demo,
    }


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    # A wrong key is refused (401) so a client's connection check fails; no key is the demo tier.
    await request.app.state.policy.authenticate(request)
    svc = services(request)
    snap = await svc.store.get()
    now = time.time()
    data = []
    for spec in svc.routing.live_catalog(snap).models:
        live = _live(spec, snap, now, svc.dispatcher.queue.depth(spec.id))
        data.append(
            {
                "id": spec.id,
                "object": "model",
                "created": _CREATED,
                "owned_by": spec.owned_by,
                **_metadata(spec),
                "status": live,
            }
        )
    return {"object": "list", "data": data}


@router.get("/models/{model_id:path}")
async def get_model(model_id: str, request: Request) -> dict[str, Any]:
    svc = services(request)
    snap = await svc.store.get()
    spec = svc.routing.live_catalog(snap).get(model_id)
    if spec is None:
        raise NotFound(f"model '{model_id}' is not served here", code="model_not_found")
    now = time.time()
    instances = [
        {
            "instance_id": i.instance_id,
            "version": i.version,
            "kind": i.kind,
            "status": i.status,
            "routable": i.is_routable(now),
            "in_flight": i.in_flight,
            "queue_depth": i.queue_depth,
            "latency_ewma_ms": round(i.latency_ewma_ms, 3),
            "breaker_state": i.breaker_state,
        }
        for i in snap.instances
        if i.model == spec.id
    ]
    return {
        "id": spec.id,
        "object": "model",
        "owned_by": spec.owned_by,
        **_metadata(spec),
        "rollout": svc.routing.rollout_view(spec.id, snap),
        "status": _live(spec, snap, now, svc.dispatcher.queue.depth(spec.id)),
        "instances": instances,
    }
