"""Routes for a signed-in user's own keys and budget, and the admin's user directory.

`/v1/keys` and `/v1/budget` act on the caller's own account (API key or Cognito token) and need
the `inference` / `usage:read` scope a user's key holds by default, never `admin`.
`GET /admin/users` lists every user, with or without usage, one page at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from accounts.errors import NotFound
from accounts.scopes import SCOPES, Scope
from accounts.self_service import (
    MAX_ACTIVE_KEYS,
    KeyExpiry,
    TooManyKeys,
    owner_of,
    read_budget,
    scopes_for_new_key,
)
from accounts.service import AccountsService
from accounts.tiers import Caller

NO_STORE = {"Cache-Control": "no-store"}


class OwnKey(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, max_length=100)
    # Omitted: the scopes of the credential creating the key. Never wider than those.
    scopes: list[Scope] | None = Field(default=None, max_length=len(SCOPES))
    expires_at: KeyExpiry = None


def _is_prefix(value: str) -> bool:
    return len(value) == 8 and all(c in "abcdefghijklmnopqrstuvwxyz234567" for c in value)


def add_self_routes(
    router: APIRouter,
    svc: Callable[[Request], AccountsService],
    require: Callable[[str], Any],
    guarded: Callable[[Callable[..., Any]], Callable[..., Any]],
) -> None:
    inference = Depends(require("inference"))
    usage_read = Depends(require("usage:read"))
    admin = [Depends(require("admin"))]

    @router.get("/v1/keys")
    @guarded
    async def my_keys(request: Request, caller: Caller = inference) -> Any:
        rows = await svc(request).admin.own.keys_of(owner_of(caller))
        for row in rows:
            row["current"] = row["prefix"] == caller.key_prefix
        return {"data": rows, "max_active": MAX_ACTIVE_KEYS}

    @router.post("/v1/keys", status_code=201)
    @guarded
    async def create_my_key(
        request: Request, caller: Caller = inference, body: OwnKey | None = None
    ) -> Any:
        body = body or OwnKey()
        user_id = owner_of(caller)
        scopes = scopes_for_new_key(caller, body.scopes)
        name = (body.name or "").strip() or None
        key = await svc(request).admin.create_own_key(
            user_id, scopes, name, body.expires_at, MAX_ACTIVE_KEYS
        )
        if key is None:
            raise TooManyKeys(
                f"You already have {MAX_ACTIVE_KEYS} active keys; revoke one to create another."
            )
        body_out = {"key": key, "prefix": key.split("_")[1], "name": name, "scopes": list(scopes)}
        return JSONResponse(body_out, status_code=201, headers=NO_STORE)

    @router.delete("/v1/keys/{prefix}")
    @guarded
    async def revoke_my_key(
        prefix: Annotated[str, Path(max_length=64)], request: Request, caller: Caller = inference
    ) -> Any:
        user_id = owner_of(caller)
        # Someone else's key and no key at all answer alike: prefixes are not probeable.
        if not _is_prefix(prefix) or not await svc(request).admin.revoke_own_key(user_id, prefix):
            raise NotFound("No such active key.")
        return {"prefix": prefix, "revoked": True, "signed_out": prefix == caller.key_prefix}

    @router.get("/v1/budget")
    @guarded
    async def my_budget(request: Request, caller: Caller = usage_read) -> Any:
        service = svc(request)
        view = await read_budget(service.store, service.redis, owner_of(caller))
        return view.body()

    @router.get("/admin/users", dependencies=admin)
    @guarded
    async def list_users(
        request: Request,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
        newest_first: bool = False,
    ) -> Any:
        now = datetime.now(UTC)
        return await svc(request).admin.list_users(limit, offset, now, newest_first)
