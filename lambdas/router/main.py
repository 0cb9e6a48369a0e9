"""Builds the app from the environment: the one start-up path every host uses."""

from __future__ import annotations

import logging
import os
from typing import Any

from fastapi import FastAPI

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
    return create_app(
        services, policy_factory=policy, extra_routers=extra, max_body_bytes=settings.max_body_bytes
    )
