"""The admin, usage and conversation endpoints, bound to the running policy's service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from accounts.errors import Forbidden
from accounts.tiers import Caller


def accounts_routers() -> list[APIRouter]:
    from accounts.api import build_router

    async def current_caller(request: Request) -> Caller:
        return await request.app.state.policy.authenticate(request)

    async def require_admin(caller: Caller = Depends(current_caller)) -> None:
        if caller.tier != "admin":
            raise Forbidden("This endpoint needs the admin key.")

    def service_of(request: Request) -> Any:
        return request.app.state.policy.service

    return [build_router(service_of, require_admin, current_caller)]
