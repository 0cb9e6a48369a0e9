"""Operator endpoints: the instance view, draining, and run-time routing configuration."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from registry.repository import InstanceNotFound
from router.api.deps import services
from router.authz import require_admin
from router.errors import BadRequest, Conflict, NotFound
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
async def drain(
    instance_id: Annotated[str, PathParam(max_length=200)], request: Request, force: bool = False
) -> dict[str, Any]:
    """Drain an instance; refused (409) when it is the last routable one of its model's
    weighted versions, unless `force=true`, and then the answer warns."""
    svc = services(request)
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    target = next((i for i in snap.instances if i.instance_id == instance_id), None)
    warning = None
    if target is not None:
        now = time.time()
        weights = svc.routing.rollouts.weights(target.model)
        before = _routable_versions(snap, target.model, now)
        after = _routable_versions(snap, target.model, now, without=instance_id)
        if _routable_weight(weights, before) > 0 and _routable_weight(weights, after) <= 0:
            if not force:
                raise Conflict(
                    "this is the last routable instance of its model's weighted versions; "
                    "drain with force=true to take the model down",
                    code="last_routable_instance",
                )
            warning = "the model has no routable instance left: its requests fail"
    view = await _set_status(request, instance_id, "draining")
    if warning:
        view["warning"] = warning
    return view


@router.post("/instances/{instance_id}/undrain")
async def undrain(
    instance_id: Annotated[str, PathParam(max_length=200)], request: Request
) -> dict[str, Any]:
    return await _set_status(request, instance_id, "healthy")


VersionName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Weight = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
ModelId = Annotated[str, PathParam(max_length=128)]


class CanaryChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stable: VersionName
    canary: VersionName
    percent: float = Field(ge=0, le=100, allow_inf_nan=False)


class RolloutChange(BaseModel):
    """One of: explicit weights, a canary split, a blue-green switch, or a rollback.

    Versions must be known (in the catalog, registered by an instance, already weighted, or
    named in `add_versions`). A change that leaves no weight on a routable version is refused
    unless `allow_unroutable` is set, and then the answer carries a warning.
    """

    model_config = ConfigDict(extra="forbid")

    weights: dict[VersionName, Weight] | None = Field(default=None, max_length=64)
    canary: CanaryChange | None = None
    switch: VersionName | None = None
    rollback: VersionName | None = None
    add_versions: list[VersionName] = Field(default_factory=list, max_length=64)
    allow_unroutable: bool = False

    def named_versions(self) -> set[str]:
        named = set(self.weights or ())
        if self.canary is not None:
            named |= {self.canary.stable, self.canary.canary}
        named |= {v for v in (self.switch, self.rollback) if v is not None}
        return named


def _known_versions(svc: Any, model_id: str, snap: Any) -> set[str]:
    spec = svc.catalog.get(model_id)
    known = {v.version for v in spec.versions} if spec is not None else set()
    known |= {i.version for i in snap.instances if i.model == model_id}
    known |= set(svc.routing.rollouts.weights(model_id))
    return known


def _routable_weight(weights: dict[str, float], routable_versions: set[str]) -> float:
    return sum(w for v, w in weights.items() if v in routable_versions)


def _routable_versions(
    snap: Any, model_id: str, now: float, without: str | None = None
) -> set[str]:
    return {
        i.version
        for i in snap.instances
        if i.model == model_id and i.instance_id != without and i.is_routable(now)
    }


class StrategyChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategy: Strategy | None = None


@router.get("/rollouts")
async def list_rollouts(request: Request) -> dict[str, Any]:
    svc = services(request)
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    canaries, rollbacks = svc.routing.rollout_states(snap)
    return {
        "rollouts": svc.routing.rollouts.as_dict(),
        "strategies": {m.id: m.strategy for m in svc.routing.catalog.models},
        # Versions under automatic evaluation, and the rollbacks it made (when, why).
        "canaries": canaries,
        "auto_rollbacks": rollbacks,
    }


@router.put("/models/{model_id}/rollout")
async def change_rollout(
    model_id: ModelId, body: RolloutChange, request: Request
) -> dict[str, Any]:
    """Change version weights for every router at once, without a redeploy."""
    svc = services(request)
    if svc.catalog.get(model_id) is None:
        raise NotFound("model is not served here", code="model_not_found")
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    unknown = sorted(
        body.named_versions() - _known_versions(svc, model_id, snap) - set(body.add_versions)
    )
    if unknown:
        raise BadRequest(
            f"unknown version(s) {unknown}: add them with add_versions first",
            code="invalid_rollout",
        )
    change = body.model_dump(exclude_none=True, exclude={"allow_unroutable"})
    weights = svc.routing.change_rollout(model_id, change)
    routable = _routable_versions(snap, model_id, time.time())
    warning = _unroutable_warning(
        weights,
        routable,
        body.allow_unroutable,
        was_routable=_routable_weight(svc.routing.rollouts.weights(model_id), routable) > 0,
    )
    item: dict[str, Any] = {"weights": weights}
    if body.canary is not None and 0 < body.canary.percent < 100:
        # The canary watch (router/canary_watch.py) evaluates it from now on.
        item["canary"] = {
            "stable": body.canary.stable,
            "canary": body.canary.canary,
            "percent": body.canary.percent,
            "since": round(time.time(), 3),
        }
    await asyncio.to_thread(svc.repo.put_config, ROLLOUT_PREFIX + model_id, item)
    snap = await svc.store.refresh()
    svc.routing.sync(snap)
    out: dict[str, Any] = {"model": model_id, "weights": svc.routing.rollouts.weights(model_id)}
    if warning:
        out["warning"] = warning
    return out


def _unroutable_warning(
    weights: dict[str, float], routable: set[str], allowed: bool, *, was_routable: bool
) -> str | None:
    if _routable_weight(weights, routable) > 0:
        return None
    if was_routable and not allowed:
        raise Conflict(
            "this change leaves no weight on a version with a routable instance, so every "
            "request for the model would fail; set allow_unroutable to do it anyway",
            code="no_routable_weight",
        )
    return "no version with weight has a routable instance: requests for this model fail"


@router.put("/models/{model_id}/strategy")
async def change_strategy(
    model_id: ModelId, body: StrategyChange, request: Request
) -> dict[str, Any]:
    """Set a model's instance strategy (null restores the configured one)."""
    svc = services(request)
    if svc.catalog.get(model_id) is None:
        raise NotFound("model is not served here", code="model_not_found")
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
