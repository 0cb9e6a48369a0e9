"""Operator endpoints: the instance view, draining, and run-time routing configuration."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Depends, Request

from registry.repository import InstanceNotFound
from router.api.deps import require_admin, services
from router.errors import NotFound
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
