"""API key scopes: what a key may do, whatever its tier lets it spend.

- `inference`: the model endpoints (chat, completions, responses, embeddings, messages,
  `/inference`) and the caller's own conversation history.
- `usage:read`: the caller's own ledger (`GET /v1/usage`).
- `admin`: every `/admin/...` endpoint. Honoured only on keys of admin-tier users.

A key created without scopes gets its tier's defaults. The operator's admin key holds every
scope; anonymous (demo) callers hold `inference` only.
"""

from __future__ import annotations

from typing import Literal

from accounts.tiers import Caller, Tier

Scope = Literal["inference", "usage:read", "admin"]
SCOPES: tuple[Scope, ...] = ("inference", "usage:read", "admin")
DEFAULT_SCOPES: dict[Tier, frozenset[Scope]] = {
    "demo": frozenset({"inference"}),
    "registered": frozenset({"inference", "usage:read"}),
    "admin": frozenset(SCOPES),
}


def effective_scopes(caller: Caller) -> frozenset[str]:
    if caller.tier == "demo":
        return DEFAULT_SCOPES["demo"]
    if caller.key_prefix == "admin" and caller.user_id is None:
        return frozenset(SCOPES)  # the operator's admin key
    granted = frozenset(caller.scopes) or DEFAULT_SCOPES[caller.tier]
    return granted if caller.tier == "admin" else granted - {"admin"}


def invalid_scopes(scopes: list[str] | tuple[str, ...], tier: Tier) -> str | None:
    """Why these scopes cannot be given to a key of this tier, or None when they can."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown:
        return f"unknown scope(s) {unknown}; scopes are {list(SCOPES)}"
    if "admin" in scopes and tier != "admin":
        return "the 'admin' scope needs an admin-tier user (or tier override)"
    return None
