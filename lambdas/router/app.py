"""The FastAPI app: one definition for Mangum, Lambda Web Adapter and uvicorn alike."""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from router import prometheus
from router.api import (
    admin,
    completions,
    embeddings,
    health,
    inference,
    instances,
    messages,
    model_detail,
    models,
    responses,
)
from router.console import mount as console
from router.error_handlers import install_error_handlers
from router.fast_routes import RouterApp
from router.input_guard import NulGuardMiddleware
from router.metrics import RouterMetrics
from router.middleware import BodyLimitMiddleware
from router.openapi_doc import install_openapi
from router.pipeline import OpenPolicy, Policy
from router.services import Services

logger = logging.getLogger("motherfluxer.router")

PolicyFactory = Callable[[Services], Policy]
GC_GEN0_THRESHOLD = 20_000


def create_app(
    services_factory: Callable[[], Services],
    *,
    policy_factory: PolicyFactory | None = None,
    extra_routers: list[Any] | None = None,
    max_body_bytes: int = 1_048_576,
) -> FastAPI:
    """Build the app; services are created at start-up so imports stay cheap."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "services", None) is None:
            _attach(app, services_factory, policy_factory)
        await app.state.policy.start()
        # Everything built at start-up lives as long as the process: out of the collector's
        # sight, and a larger first generation, so requests' short-lived objects are
        # collected less often (a profile had the collector at a few % of request CPU).
        gc.freeze()
        gc.set_threshold(GC_GEN0_THRESHOLD, 20, 20)
        try:
            yield
        finally:
            await app.state.policy.aclose()
            await app.state.services.aclose()

    # FastAPI's built-in OpenTelemetry checks its providers on every request; the router
    # reports through CloudWatch EMF instead, so it is on only when asked for.
    otel = os.environ.get("MOTHERFLUXER_OTEL", "").lower() in ("1", "true")
    app = RouterApp(
        title="MotherFluxer",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
    )
    install_error_handlers(app)
    # The inference routes skip FastAPI's routing and outer layers (see router.fast_routes).
    app.fast_routes = {
        ("POST", "/v1/chat/completions"): completions.chat_completions,
        ("POST", "/v1/completions"): completions.completions,
    }
    # Added before the body limit, so it runs inside it: it buffers only bounded bodies.
    app.add_middleware(NulGuardMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    for module in (health, completions, inference, models, instances, admin, prometheus):
        app.include_router(module.router)
    for module in (responses, messages, embeddings, model_detail, console):
        app.include_router(module.router)
    console.install_cors(app)
    for extra in extra_routers or []:
        app.include_router(extra)
    install_openapi(app)
    app.state.services = None
    app.state.factories = (services_factory, policy_factory)
    return app


def _attach(
    app: FastAPI, services_factory: Callable[[], Services], policy_factory: PolicyFactory | None
) -> None:
    svc = services_factory()
    app.state.services = svc
    app.state.policy = policy_factory(svc) if policy_factory else OpenPolicy(RouterMetrics())


def ensure_started(app: FastAPI) -> None:
    """For hosts without lifespan events (Mangum with lifespan off): build services once."""
    if getattr(app.state, "services", None) is None:
        services_factory, policy_factory = app.state.factories
        _attach(app, services_factory, policy_factory)
