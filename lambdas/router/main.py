"""Builds the app from the environment: the one start-up path every host uses."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI

from contracts import env
from router import tracing
from router.app import create_app
from router.catalog_source import load_catalog
from router.services import Services, build_services
from router.settings import Settings


def _policy_factory(settings: Settings) -> Any:
    if not (settings.database_url or settings.database_secret):
        return None
    # Accounts need PostgreSQL and Redis; without them the router runs open (spine mode).
    from router.accounts_policy import AccountsPolicy

    return AccountsPolicy


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))

    def services() -> Services:
        catalog, routing_config = load_catalog(settings)
        return build_services(settings, catalog=catalog, routing_config=routing_config)

    extra: list[Any] = []
    policy = _policy_factory(settings)
    if policy is not None:
        from router.accounts_policy.routes import accounts_routers

        extra = accounts_routers()
    app = create_app(
        services, policy_factory=policy, extra_routers=extra, max_body_bytes=settings.max_body_bytes
    )
    # In Lambda, spans leave before each response ends, not after the environment thaws.
    tracing.install(app)
    return app


def serve(argv: list[str] | None = None) -> None:
    """`python -m router.main --host H --port P`: uvicorn with the limits of
    `router.server_limits` (header size/count, header-read and keep-alive timeouts, forwarding
    headers only from configured proxies). Local stack and Lambda Web Adapter both start here.
    """
    import argparse

    import uvicorn

    from router.server_limits import ServerLimits

    parser = argparse.ArgumentParser(prog="router.main")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--loop", default="auto")
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=10)
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get(env.ROUTER_WORKERS, "1")),
        help="router processes behind the one port (uvicorn's supervisor)",
    )
    args = parser.parse_args(argv)
    options = ServerLimits.from_env().uvicorn_options()
    if args.workers > 1 and not isinstance(options["http"], str):
        from router.server_limits import HttpToolsProtocol

        if HttpToolsProtocol is not None:
            options["http"] = "router.worker_protocol:EnvLimitedHttpTools"
    uvicorn.run(
        "router.lambda_web:app",
        host=args.host,
        port=args.port,
        loop=args.loop,
        access_log=False,
        timeout_graceful_shutdown=args.timeout_graceful_shutdown,
        workers=args.workers if args.workers > 1 else None,
        **options,
    )


if __name__ == "__main__":
    serve()
