"""The admin, usage and conversation endpoints, bound to the running policy's service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request


def accounts_routers() -> list[APIRouter]:
    from accounts.api import build_router
    from router.authz import require_scope

    def service_of(request: Request) -> Any:
        return request.app.state.policy.service

    return [build_router(service_of, require_scope)]
