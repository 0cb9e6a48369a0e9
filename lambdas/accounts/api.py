"""FastAPI routes for admin account management, usage reports and conversation history.

The router app mounts `build_router(...)` and supplies two dependencies: `require_admin`
(raises/denies unless the caller is admin) and `current_caller` (returns a `Caller`).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from accounts.errors import AccountsError, Forbidden, NotFound
from accounts.service import AccountsService
from accounts.store import UsageFilter
from accounts.tiers import Caller, Tier


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tier: Tier = "registered"


class NewKey(BaseModel):
    scopes: list[str] = Field(default_factory=list)
    tier: Tier | None = None
    expires_at: datetime | None = None


class BudgetBody(BaseModel):
    usd: Decimal = Field(ge=0)
    period: Literal["total", "monthly"] = "total"


def error_response(exc: AccountsError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=exc.headers())


def _user_of(caller: Caller) -> str:
    if caller.user_id is None:
        raise Forbidden("This endpoint needs an API key.")
    return caller.user_id


def build_router(
    service: AccountsService | Callable[[Request], AccountsService],
    require_admin: Callable[..., Any],
    current_caller: Callable[..., Any],
) -> APIRouter:
    """`service` is the instance, or a callable that takes the request and returns it."""

    def svc(request: Request) -> AccountsService:
        return service(request) if callable(service) else service

    router = APIRouter()
    admin = [Depends(require_admin)]

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Typed errors become the project's JSON error shape whatever the app's handlers are.
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except AccountsError as exc:
                return error_response(exc)

        return wrapper

    @router.post("/admin/users", dependencies=admin, status_code=201)
    @guarded
    async def create_user(body: NewUser, request: Request) -> Any:
        return {"user_id": await svc(request).create_user(body.name, body.tier)}

    @router.post("/admin/users/{user_id}/keys", dependencies=admin, status_code=201)
    @guarded
    async def create_key(user_id: str, request: Request, body: NewKey | None = None) -> Any:
        body = body or NewKey()
        key = await svc(request).create_key(
            _uuid(user_id), tuple(body.scopes), body.tier, body.expires_at
        )
        prefix = key.split("_")[1]
        return JSONResponse(
            {"key": key, "prefix": prefix}, status_code=201, headers={"Cache-Control": "no-store"}
        )

    @router.delete("/admin/keys/{prefix}", dependencies=admin)
    @guarded
    async def revoke_key(prefix: str, request: Request) -> Any:
        if not await svc(request).revoke_key(prefix):
            raise NotFound("No such active key.")
        return {"prefix": prefix, "revoked": True}

    @router.put("/admin/users/{user_id}/budget", dependencies=admin)
    @guarded
    async def set_budget(user_id: str, body: BudgetBody, request: Request) -> Any:
        await svc(request).set_budget(_uuid(user_id), body.usd, body.period)
        return {"user_id": user_id, "usd": str(body.usd), "period": body.period}

    @router.get("/admin/usage", dependencies=admin)
    @guarded
    async def admin_usage(
        request: Request,
        user_id: str | None = None,
        model: str | None = None,
        version: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> Any:
        flt = UsageFilter(
            user_id=_uuid(user_id) if user_id else None,
            model=model,
            version=version,
            since=since,
            until=until,
        )
        return await svc(request).usage_report(flt, max(1, min(limit, 10_000)))

    @router.get("/v1/usage")
    @guarded
    async def my_usage(
        request: Request,
        caller: Caller = Depends(current_caller),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Any:
        return await svc(request).user_usage(_user_of(caller), since, until)

    @router.get("/v1/conversations")
    @guarded
    async def list_conversations(request: Request, caller: Caller = Depends(current_caller)) -> Any:
        return {"data": await svc(request).list_conversations(_user_of(caller))}

    @router.get("/v1/conversations/{conversation_id}")
    @guarded
    async def get_conversation(
        conversation_id: str, request: Request, caller: Caller = Depends(current_caller)
    ) -> Any:
        return await svc(request).get_conversation(_user_of(caller), _uuid(conversation_id))

    @router.delete("/v1/conversations/{conversation_id}")
    @guarded
    async def delete_conversation(
        conversation_id: str, request: Request, caller: Caller = Depends(current_caller)
    ) -> Any:
        await svc(request).delete_conversation(_user_of(caller), _uuid(conversation_id))
        return {"id": conversation_id, "deleted": True}

    return router


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound("No such resource.") from None


def default_dependencies(
    service: AccountsService,
) -> tuple[Callable[..., Awaitable[Caller]], Callable[..., Awaitable[None]]]:
    """(current_caller, require_admin) for apps that have no dependencies of their own.

    The client IP is the socket peer here; behind API Gateway or a proxy the router should pass
    the trusted source IP instead.
    """

    async def current_caller(
        request: Request, authorization: str | None = Header(default=None)
    ) -> Caller:
        host = request.client.host if request.client else "unknown"
        return await service.authenticate(authorization, host)

    async def require_admin(caller: Caller = Depends(current_caller)) -> None:
        if caller.tier != "admin":
            raise Forbidden("This endpoint needs the admin key.")

    return current_caller, require_admin
