"""FastAPI routes for admin accounts, usage and model reports, feedback and conversation history
(self-service keys and budget, and the user directory, are added from `accounts.self_routes`).

The router app mounts `build_router(service, require)`; `require(scope)` returns the
dependency that yields the `Caller` once it holds that scope (`router.authz.require_scope`),
so every route here is authorized by the same rule as the rest of the API.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from accounts.errors import AccountsError, AccountsUnavailable, BadRequest, Forbidden, NotFound
from accounts.feedback import VALID_SCORES
from accounts.model_reports import ReportWindow, report_csv
from accounts.scopes import SCOPES, Scope, invalid_scopes
from accounts.self_routes import add_self_routes
from accounts.self_service import KeyExpiry
from accounts.service import AccountsService
from accounts.store import UsageFilter
from accounts.tiers import Caller, Tier

log = logging.getLogger(__name__)

# What `usage_ledger`/`budgets` columns hold: NUMERIC(18, 9) tops out just under 10^9 USD.
MAX_USD = Decimal("999999999")


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    tier: Tier = "registered"


Goal = Literal["quality", "cost", "latency"]


class NewKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scopes: list[Scope] = Field(default_factory=list, max_length=len(SCOPES))
    tier: Tier | None = None
    expires_at: KeyExpiry = None
    # The key's default `routing.optimize`; a request's own goal overrides it.
    optimize: Goal | None = None


class KeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    optimize: Goal | None


class BudgetBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usd: Decimal = Field(ge=0, le=MAX_USD, allow_inf_nan=False)
    period: Literal["total", "monthly"] = "total"


def _score(value: int) -> int:
    if value not in VALID_SCORES:
        raise ValueError("score must be -1 or 1 (thumbs) or 1 to 5 (stars)")
    return value


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The router's id (`x-motherfluxer-request-id`) or the caller's own `x-request-id`.
    request_id: str = Field(min_length=1, max_length=200)
    score: Annotated[int, Field(strict=True), AfterValidator(_score)]
    comment: str | None = Field(default=None, max_length=4000)


def _wants_csv(request: Request, fmt: str | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    return "text/csv" in request.headers.get("accept", "")


def error_response(exc: AccountsError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status, headers=exc.headers())


def _user_of(caller: Caller) -> str:
    if caller.user_id is None:
        raise Forbidden("This endpoint needs a user's API key.")
    return caller.user_id


def build_router(
    service: AccountsService | Callable[[Request], AccountsService],
    require: Callable[[str], Any],
) -> APIRouter:
    """`service` is the instance, or a callable that takes the request and returns it."""

    def svc(request: Request) -> AccountsService:
        return service(request) if callable(service) else service

    router = APIRouter()
    admin = [Depends(require("admin"))]
    inference = Depends(require("inference"))
    usage_read = Depends(require("usage:read"))

    def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
        # Typed errors become the project's JSON error shape whatever the app's handlers are.
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except AccountsError as exc:
                return error_response(exc)
            except (SQLAlchemyError, OSError) as exc:
                log.error("accounts database error on %s (%s)", fn.__name__, type(exc).__name__)
                return error_response(
                    AccountsUnavailable("Accounts are temporarily unavailable; please retry.", 5)
                )

        return wrapper

    @router.post("/admin/users", dependencies=admin, status_code=201)
    @guarded
    async def create_user(body: NewUser, request: Request) -> Any:
        return {"user_id": await svc(request).create_user(body.name, body.tier)}

    @router.post("/admin/users/{user_id}/keys", dependencies=admin, status_code=201)
    @guarded
    async def create_key(user_id: str, request: Request, body: NewKey | None = None) -> Any:
        body = body or NewKey()
        service_ = svc(request)
        uid = _uuid(user_id)
        tier = body.tier or await service_.store.user_tier(uid)
        if tier is None:
            raise NotFound("No such user.")
        problem = invalid_scopes(body.scopes, tier)
        if problem:
            raise BadRequest(problem)
        key = await service_.create_key(
            uid, tuple(body.scopes), body.tier, body.expires_at, body.optimize
        )
        prefix = key.split("_")[1]
        return JSONResponse(
            {"key": key, "prefix": prefix, "optimize": body.optimize},
            status_code=201,
            headers={"Cache-Control": "no-store"},
        )

    @router.patch("/admin/keys/{prefix}", dependencies=admin)
    @guarded
    async def update_key(
        prefix: Annotated[str, Path(max_length=64)], body: KeyUpdate, request: Request
    ) -> Any:
        if not _is_prefix(prefix) or not await svc(request).set_key_optimize(prefix, body.optimize):
            raise NotFound("No such active key.")
        return {"prefix": prefix, "optimize": body.optimize}

    @router.delete("/admin/keys/{prefix}", dependencies=admin)
    @guarded
    async def revoke_key(prefix: Annotated[str, Path(max_length=64)], request: Request) -> Any:
        if not _is_prefix(prefix) or not await svc(request).revoke_key(prefix):
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
        user_id: Annotated[str | None, Query(max_length=64)] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        version: Annotated[str | None, Query(max_length=200)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Any:
        flt = UsageFilter(
            user_id=_uuid(user_id) if user_id else None,
            model=model,
            version=version,
            since=since,
            until=until,
        )
        return await svc(request).usage_report(flt, limit)

    @router.get("/admin/reports/models", dependencies=admin)
    @guarded
    async def model_report(
        request: Request,
        since: datetime | None = None,
        until: datetime | None = None,
        task: Annotated[str | None, Query(max_length=64)] = None,
        format: Literal["json", "csv"] | None = None,
    ) -> Any:
        report = await svc(request).model_report(ReportWindow(since, until, task))
        if _wants_csv(request, format):
            return Response(report_csv(report), media_type="text/csv; charset=utf-8")
        return report

    @router.post("/v1/feedback")
    @guarded
    async def rate_request(body: FeedbackBody, request: Request, caller: Caller = inference) -> Any:
        rating = await svc(request).rate_request(caller, body.request_id, body.score, body.comment)
        return rating.body()

    @router.get("/v1/usage")
    @guarded
    async def my_usage(
        request: Request,
        caller: Caller = usage_read,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Any:
        return await svc(request).user_usage(_user_of(caller), since, until)

    @router.get("/v1/conversations")
    @guarded
    async def list_conversations(request: Request, caller: Caller = inference) -> Any:
        return {"data": await svc(request).list_conversations(_user_of(caller))}

    @router.get("/v1/conversations/{conversation_id}")
    @guarded
    async def get_conversation(
        conversation_id: str, request: Request, caller: Caller = inference
    ) -> Any:
        return await svc(request).get_conversation(_user_of(caller), _uuid(conversation_id))

    @router.delete("/v1/conversations/{conversation_id}")
    @guarded
    async def delete_conversation(
        conversation_id: str, request: Request, caller: Caller = inference
    ) -> Any:
        await svc(request).delete_conversation(_user_of(caller), _uuid(conversation_id))
        return {"id": conversation_id, "deleted": True}

    add_self_routes(router, svc, require, guarded)  # /v1/keys, /v1/budget, GET /admin/users
    return router


def _is_prefix(value: str) -> bool:
    return len(value) == 8 and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in value)


def _uuid(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise NotFound("No such resource.") from None
