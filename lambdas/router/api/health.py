"""Liveness (`/health/live`) and readiness (`/health`, `/health/ready`) of the router."""

from __future__ import annotations

import inspect
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from router.api.deps import services
from router.readiness import readiness, required_models

router = APIRouter()


@router.get("/health/live")
async def live() -> JSONResponse:
    """The process answers HTTP; says nothing about whether it can route."""
    return JSONResponse({"status": "ok"})


@router.get("/health")
@router.get("/health/ready")
async def health(request: Request) -> JSONResponse:
    """200 only once every served model has a routable instance; 503 with what is missing."""
    svc = services(request)
    body: dict[str, Any] = {"status": "ok", "stage": svc.settings.stage}
    try:
        snap = await svc.store.get()
    except Exception:
        body.update(status="degraded", instances=None, detail="instance registry unreachable")
        return JSONResponse(body, status_code=503)
    now = time.time()
    catalog = svc.routing.live_catalog(snap)
    state = readiness(required_models(catalog, svc.routing_config), svc.routing.index(snap))
    body["ready"] = state.ready
    body["models"] = len(catalog.models)
    body["readiness"] = state.as_dict()
    body["instances"] = len(snap.instances)
    body["healthy_instances"] = sum(1 for i in snap.instances if i.is_routable(now))
    checks = request.app.state.policy.health()
    if inspect.isawaitable(checks):
        checks = await checks  # the accounts layer probes PostgreSQL and Redis
    if checks:
        body["components"] = checks
    if not state.ready:
        body["status"] = "starting"
    elif any(v != "ok" for v in checks.values()):
        body["status"] = "degraded"
    ok = state.ready and all(v == "ok" for v in checks.values())
    return JSONResponse(body, status_code=200 if ok else 503)
