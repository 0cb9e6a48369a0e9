"""The FastAPI app: one definition for Mangum, Lambda Web Adapter and uvicorn alike."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from router.api import admin, completions, health, inference, instances, models
from router.console import mount as console
from router.errors import install_error_handlers
from router.hooks import OpenHooks
from router.metrics import RouterMetrics
from router.middleware import BodyLimitMiddleware
from router.services import Services

logger = logging.getLogger("motherfluxer.router")


def create_app(
    services_factory: Callable[[], Services],
    *,
    hooks_factory: Callable[[Services], Any] | None = None,
    extra_routers: list[Any] | None = None,
    max_body_bytes: int = 1_048_576,
) -> FastAPI:
    """Build the app; services are created at start-up so imports stay cheap."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if getattr(app.state, "services", None) is None:
            _attach(app, services_factory, hooks_factory)
        start = getattr(app.state.hooks, "start", None)
        if start is not None:
            await start()
        try:
            yield
        finally:
            await app.state.hooks.aclose()
            await app.state.services.aclose()

    # FastAPI's built-in OpenTelemetry checks its providers on every request; the router
    # reports through CloudWatch EMF instead, so it is on only when asked for.
    otel = os.environ.get("MOTHERFLUXER_OTEL", "").lower() in ("1", "true")
    app = FastAPI(
        title="MotherFluxer",
        version="0.1.0",
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        telemetry={"tracing": otel, "metrics": otel, "logs": otel},
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    for module in (health, completions, inference, models, instances, admin, console):
        app.include_router(module.router)
    console.install_cors(app)
    for extra in extra_routers or []:
        app.include_router(extra)
    if extra_routers:
        from router.accounts_hooks import install_handlers

        install_handlers(app)
    app.state.services = None
    app.state.factories = (services_factory, hooks_factory)
    return app


def _attach(app: FastAPI, services_factory: Callable[[], Services], hooks_factory: Any) -> None:
    svc = services_factory()
    app.state.services = svc
    app.state.hooks = hooks_factory(svc) if hooks_factory else OpenHooks(RouterMetrics())


def ensure_started(app: FastAPI) -> None:
    """For hosts without lifespan events (Mangum with lifespan off): build services once."""
    if getattr(app.state, "services", None) is None:
        services_factory, hooks_factory = app.state.factories
        _attach(app, services_factory, hooks_factory)
