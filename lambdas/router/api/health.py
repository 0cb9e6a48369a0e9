"""Liveness and readiness of the router itself."""

from __future__ import annotations

import inspect
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse

from router.api.deps import services

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    svc = services(request)
    body: dict[str, Any] = {"status": "ok", "stage": svc.settings.stage}
    try:
        snap = await svc.store.get()
    except Exception:
        body.update(status="degraded", instances=None, detail="instance registry unreachable")
        return JSONResponse(body, status_code=503)
    now = time.time()
    body["models"] = len(svc.catalog.models)
    body["instances"] = len(snap.instances)
    body["healthy_instances"] = sum(1 for i in snap.instances if i.is_routable(now))
    checks = request.app.state.hooks.health()
    if inspect.isawaitable(checks):
        checks = await checks  # the accounts layer probes PostgreSQL and Redis
    if checks:
        body["components"] = checks
        if any(v != "ok" for v in checks.values()):
            body["status"] = "degraded"
    return JSONResponse(body)
