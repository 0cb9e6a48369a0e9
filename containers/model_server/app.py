"""The HTTP app: wires state, middleware, error handlers and the route families together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from model_server import __version__
from model_server.config import Settings
from model_server.errors import install_error_handlers
from model_server.labels import ServerHeaders
from model_server.registration import RouterRegistration
from model_server.routes import embeddings, openai_api, ops, sagemaker
from model_server.state import ServerState

__all__ = ["ServerState", "create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    state = ServerState(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.supervisor.start()
        # Behind a SageMaker endpoint the endpoint is the unit the router routes to; the
        # health checker registers it, so the containers inside it do not register themselves.
        if settings.router_url and settings.instance_kind != "sagemaker":
            state.registration = RouterRegistration(
                settings, state.heartbeat_status, state.supervisor.wait_ready
            )
            state.registration.start()
        try:
            yield
        finally:
            if state.registration is not None:
                await state.registration.deregister()
            await state.supervisor.stop()

    app = FastAPI(
        title="MotherFluxer model server",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.server = state
    install_error_handlers(app)
    app.add_middleware(ServerHeaders, state=state)
    app.include_router(ops.router)
    app.include_router(openai_api.router)
    app.include_router(sagemaker.router)
    app.include_router(embeddings.router)
    if settings.enable_faults:
        app.include_router(ops.faults_router)
    return app
