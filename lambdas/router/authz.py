"""Authorization: the one place that decides who may call which endpoint.

Every route that needs more than anonymous access depends on `require_scope(scope)`:

- no credentials at all: 401 (`missing_api_key`) for anything but inference;
- a key without the scope: 403 (`forbidden`) naming the missing scope.

The admin rule, for every `/admin/...` endpoint (users, keys, budgets, usage, instances,
rollouts, strategies, registration tokens, models, drain): the caller holds the `admin` scope,
which only the operator's admin key and keys of admin-tier users can hold (see
`accounts.scopes`). Without accounts (the bare router) only the operator key is admin and
inference is open.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from accounts.scopes import effective_scopes

__all__ = ["check", "current_caller", "effective_scopes", "require_admin", "require_scope"]
from accounts.tiers import DEFAULT_LIMITS, Caller
from router.errors import Forbidden, Unauthorized
from router.security import bearer

OPERATOR = Caller("admin", DEFAULT_LIMITS["admin"], key_prefix="admin")
ANONYMOUS = Caller("demo", DEFAULT_LIMITS["demo"])


async def current_caller(request: Request) -> Caller:
    """The caller, from the accounts layer when there is one, else from the operator key."""
    policy = request.app.state.policy
    resolve = getattr(policy, "caller", None)
    if resolve is not None:
        return await resolve(request)
    token = bearer(request.headers.get("authorization"))
    if token is None:
        return ANONYMOUS
    admin_key = request.app.state.services.admin_key
    if admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
        return OPERATOR
    raise Unauthorized("invalid API key")


def check(caller: Caller, scope: str, *, open_inference: bool = False) -> None:
    """Raise unless `caller` holds `scope`."""
    if scope == "inference" and open_inference:
        return
    if scope in effective_scopes(caller):
        return
    if caller.tier == "demo":
        raise Unauthorized(
            f"this endpoint needs an API key with the '{scope}' scope", code="missing_api_key"
        )
    raise Forbidden(f"this key lacks the '{scope}' scope")


def require_scope(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    """A FastAPI dependency: the caller, once it is known to hold `scope`."""

    async def dependency(request: Request) -> Caller:
        caller = await current_caller(request)
        open_inference = getattr(request.app.state.policy, "caller", None) is None
        check(caller, scope, open_inference=open_inference)
        return caller

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


require_admin: Any = require_scope("admin")
require_inference: Any = require_scope("inference")
require_usage_read: Any = require_scope("usage:read")
