"""Operational endpoints: SageMaker's /ping, /health (JSON), /metrics (Prometheus), faults."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from model_server import __version__, healthcheck
from model_server.errors import ApiError
from model_server.routes import server_of

FAULTS = {
    "crash_now",
    "crash_on_next_request",
    "hang_on_next_request",
    "slow_next_request",
    "delay_next_request",
}

router = APIRouter()
faults_router = APIRouter()


@router.get("/ping")
async def ping(request: Request) -> Response:
    state = server_of(request)
    if state.ready:
        return JSONResponse({"status": "ready"})
    status = "draining" if state.draining else "starting"
    return JSONResponse({"status": status}, status_code=503)


@router.get("/health")
async def health(request: Request) -> Response:
    state = server_of(request)
    settings = state.settings
    sup = state.supervisor
    if state.draining:
        status = "draining"
    elif sup.ready:
        status = "ok"
    else:
        status = "restarting" if sup.restarts else "starting"
    reg = state.registration
    body = {
        "status": status,
        "model": settings.served_model_name,
        "version": settings.model_version,
        "backend": state.backend_name,
        "demo": state.demo,
        "uptime_s": round(time.monotonic() - state.started, 3),
        "in_flight": state.in_flight,
        "queue_depth": max(0, sup.outstanding - 1),
        "restarts": sup.restarts,
        "backend_pid": sup.pid,
        "last_error": sup.last_error,
        "context_window": sup.info.context_window if sup.info else None,
        "capabilities": sup.info.capabilities if sup.info else None,
        "tokens_per_second": round(state.metrics.tokens_per_second, 3),
        "registered": bool(reg and reg.instance_id),
        "instance_id": reg.instance_id if reg else None,
        "server_version": __version__,
        "demo_forced": state.settings.demo_forced,
        "healthcheck": healthcheck.as_dict(),
        # Still loading after the start period: the host's health check now counts failures.
        "start_period_exceeded": not sup.ready
        and time.monotonic() - state.started > healthcheck.START_PERIOD_S,
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = server_of(request)
    sup = state.supervisor

    def gauges() -> dict[str, tuple[str, float]]:
        return {
            "model_server_in_flight": ("gauge", state.in_flight),
            "model_server_queue_depth": ("gauge", max(0, sup.outstanding - 1)),
            "model_server_backend_ready": ("gauge", 1 if sup.ready else 0),
            "model_server_backend_restarts_total": ("counter", sup.restarts),
            "model_server_tokens_per_second": ("gauge", state.metrics.tokens_per_second),
            "model_server_uptime_seconds": ("gauge", time.monotonic() - state.started),
        }

    info = {
        "model": state.settings.served_model_name,
        "version": state.settings.model_version,
        "backend": state.backend_name,
        "demo": str(state.demo).lower(),
    }
    return PlainTextResponse(
        state.metrics.render(gauges, info), media_type="text/plain; version=0.0.4"
    )


@faults_router.post("/debug/faults/{kind}")
async def inject_fault(kind: str, request: Request) -> Response:
    # Test-only hook, mounted only when MODEL_SERVER_ENABLE_FAULTS=1.
    if kind not in FAULTS:
        raise ApiError(404, "unknown fault", "not_found")
    server_of(request).supervisor.inject_fault(kind)
    return JSONResponse({"injected": kind})
