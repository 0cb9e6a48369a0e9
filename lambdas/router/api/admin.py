"""Operator endpoints: the instance view, draining, and run-time routing configuration."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from registry.repository import InstanceNotFound
from router.api.deps import services
from router.authz import require_admin
from router.errors import NotFound
from router.routing_facade import ROLLOUT_PREFIX, STRATEGY_PREFIX
from routing.catalog import Strategy
from routing.instances import Instance

router = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


def instance_view(inst: Instance, now: float) -> dict[str, Any]:
    stale = inst.lease_seconds > 0 and now - inst.last_heartbeat > inst.lease_seconds
    ejected = inst.ejected_until > now
    if inst.status == "healthy" and stale:
        effective = "unhealthy"
        why = "stale heartbeat"
    elif inst.status == "healthy" and (ejected or inst.breaker_state == "open"):
        effective = "ejected"
        why = "passive health: consecutive failures"
    else:
        effective = inst.status
        why = None
    return {
        "instance_id": inst.instance_id,
        "model": inst.model,
        "version": inst.version,
        "kind": inst.kind,
        "status": effective,
        "stored_status": inst.status,
        "status_reason": why,
        "routable": inst.is_routable(now),
        "breaker_state": inst.breaker_state,
        "consecutive_failures": inst.consecutive_failures,
        "ejection_count": inst.ejection_count,
        "ejected_until": inst.ejected_until or None,
        "last_heartbeat": inst.last_heartbeat,
        "heartbeat_age_s": round(now - inst.last_heartbeat, 3) if inst.last_heartbeat else None,
        "in_flight": inst.in_flight,
        "queue_depth": inst.queue_depth,
        "tokens_per_second": inst.tokens_per_second,
        "latency_ewma_ms": round(inst.latency_ewma_ms, 3),
        "weight": inst.weight,
        "rev": inst.rev,
    }


@router.get("/instances")
async def list_instances(request: Request) -> dict[str, Any]:
    svc = services(request)
    # Operators want the table's truth, not this process's cached view.
    snap = await svc.store.refresh()
    now = time.time()
    return {
        "object": "list",
        "data": [
            instance_view(i, now)
            for i in sorted(snap.instances, key=lambda i: (i.model, i.instance_id))
        ],
    }


async def _set_status(request: Request, instance_id: str, status: str) -> dict[str, Any]:
    svc = services(request)

    def change(inst: Instance) -> Instance:
        if status == "draining":
            return replace(inst, status="draining")
        # Undrain hands the instance back to the health checks: healthy until proven otherwise.
        return replace(inst, status="healthy") if inst.status == "draining" else inst

    try:
        inst = await asyncio.to_thread(svc.repo.apply, instance_id, change)
    except InstanceNotFound:
        raise NotFound("instance is not registered", code="instance_not_found") from None
    svc.store.override(inst)
    return instance_view(inst, time.time())


@router.post("/instances/{instance_id}/drain")
async def drain(instance_id: str, request: Request) -> dict[str, Any]:
    return await _set_status(request, instance_id, "draining")


@router.post("/instances/{instance_id}/undrain")
async def undrain(instance_id: str, request: Request) -> dict[str, Any]:
    return await _set_status(request, instance_id, "healthy")


class RolloutChange(BaseModel):
    """One of: explicit weights, a canary split, a blue-green switch, or a rollback."""

    model_config = ConfigDict(extra="forbid")

    weights: dict[str, float] | None = None
    canary: dict[str, Any] | None = None
    switch: str | None = None
    rollback: str | None = None
    add_versions: list[str] = Field(default_factory=list)


class StrategyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Strategy | None = None


@router.get("/rollouts")
async def list_rollouts(request: Request) -> dict[str, Any]:
    svc = services(request)
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    return {
        "rollouts": svc.routing.rollouts.as_dict(),
        "strategies": {m.id: m.strategy for m in svc.routing.catalog.models},
    }


@router.put("/models/{model_id}/rollout")
async def change_rollout(model_id: str, body: RolloutChange, request: Request) -> dict[str, Any]:
    """Change version weights for every router at once, without a redeploy."""
    svc = services(request)
    await svc.store.refresh()
    change = body.model_dump(exclude_none=True)
    weights = svc.routing.change_rollout(model_id, change)
    await asyncio.to_thread(svc.repo.put_config, ROLLOUT_PREFIX + model_id, {"weights": weights})
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    return {"model": model_id, "weights": svc.routing.rollouts.weights(model_id)}


@router.put("/models/{model_id}/strategy")
async def change_strategy(model_id: str, body: StrategyChange, request: Request) -> dict[str, Any]:
    """Set a model's instance strategy (null restores the configured one)."""
    svc = services(request)
    if svc.catalog.get(model_id) is None:
        raise NotFound(f"model '{model_id}' is not served here", code="model_not_found")
    if body.strategy is None:
        await asyncio.to_thread(svc.repo.delete_config, STRATEGY_PREFIX + model_id)
    else:
        await asyncio.to_thread(
            svc.repo.put_config, STRATEGY_PREFIX + model_id, {"strategy": body.strategy}
        )
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    spec = svc.routing.catalog.get(model_id)
    return {"model": model_id, "strategy": spec.strategy if spec else None}
