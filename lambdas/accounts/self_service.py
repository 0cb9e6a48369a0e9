"""Self-service for a signed-in user: their own keys and their budget.

Who may: any caller with a user behind it (an API key or a Cognito token). The anonymous demo
tier gets 401 and the operator's admin key, which has no account of its own, gets 403.

Rules a user notices:
- at most `MAX_ACTIVE_KEYS` active keys per user (409 over it);
- a new key inherits the user's tier and, unless asked for fewer, exactly the scopes of the
  credential that created it, so a narrowed key cannot mint a wider one;
- revoking a key that is not the caller's answers 404, the same as a key that does not exist;
- revoking the key the request is signed with is allowed (it is how a leaked key is killed);
  the answer says so with `"signed_out": true` and that key fails from the next request on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator
from redis.asyncio import Redis

from accounts.budgets import NO_BUDGET, month_id
from accounts.errors import AccountsError, BadRequest, Forbidden
from accounts.pricing import NANO
from accounts.redis_guard import REDIS_DOWN
from accounts.scopes import effective_scopes
from accounts.store import AccountsStore, UsageFilter
from accounts.tiers import Caller

log = logging.getLogger(__name__)

MAX_ACTIVE_KEYS = 20


def _in_the_future(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    if aware <= datetime.now(UTC):
        raise ValueError("expires_at must be in the future")
    return aware


# A new key's `expires_at` (admin- or self-issued): naive times are UTC, the past is refused.
KeyExpiry = Annotated[datetime | None, AfterValidator(_in_the_future)]


class SignInRequired(AccountsError):
    status = 401
    type = "authentication_error"
    code = "missing_api_key"


class TooManyKeys(AccountsError):
    status = 409
    type = "invalid_request_error"
    code = "key_limit_reached"


def owner_of(caller: Caller) -> str:
    """The caller's own user id, or the error a demo or operator caller must see."""
    if caller.user_id is not None:
        return caller.user_id
    if caller.tier == "demo":
        raise SignInRequired("Sign in with an API key (or Cognito) to manage your keys and budget.")
    raise Forbidden(
        "The operator's admin key has no account of its own; use /admin/... or a user's key."
    )


def scopes_for_new_key(caller: Caller, requested: list[str] | None) -> tuple[str, ...]:
    held = effective_scopes(caller)
    if requested is None:
        return tuple(sorted(held))
    wider = sorted(set(requested) - held)
    if wider:
        raise BadRequest(f"a key cannot grant scopes its creator lacks: {wider}")
    return tuple(sorted(set(requested)))


def month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


@dataclass(frozen=True, slots=True)
class BudgetView:
    limit: Decimal | None
    period: str | None
    spent: Decimal
    reserved: Decimal
    source: str  # "live" (Redis, what admission checks) or "ledger" (Postgres)
    now: datetime

    def body(self) -> dict[str, Any]:
        remaining = None if self.limit is None else max(self.limit - self.spent, Decimal(0))
        monthly = self.period == "monthly"
        return {
            "limit_usd": _usd(self.limit),
            "period": self.period,
            "spent_usd": _usd(self.spent),
            "reserved_usd": _usd(self.reserved),
            "remaining_usd": _usd(remaining),
            "period_start": month_start(self.now).isoformat() if monthly else None,
            "resets_at": next_month_start(self.now).isoformat() if monthly else None,
            "source": self.source,
        }


def _usd(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return str(value.quantize(NANO).normalize()) if value else "0"


def _int(raw: Any) -> int:
    return int(raw.decode() if isinstance(raw, bytes) else raw)


def _text(raw: Any) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


async def read_budget(
    store: AccountsStore, redis: Redis, user_id: str, now: datetime | None = None
) -> BudgetView:
    """The live counter when Redis holds one (what admission really checks), else the ledger."""
    now = now or datetime.now(UTC)
    try:
        live = await redis.hgetall(f"mf:budget:{{{user_id}}}")
    except REDIS_DOWN as exc:
        log.warning("budget read from the ledger: Redis unavailable (%s)", type(exc).__name__)
        live = {}
    fields = {_text(k): v for k, v in live.items()}
    if "limit" in fields and _int(fields["limit"]) != NO_BUDGET:
        stored_period = _text(fields.get("period", b"total"))
        period = "total" if stored_period == "total" else "monthly"
        # A monthly counter still on last month is reset by the next reservation: spent is 0.
        rolled = period == "monthly" and stored_period != month_id(now)
        spent = 0 if rolled else _int(fields.get("spent", 0))
        return BudgetView(
            Decimal(_int(fields["limit"])) * NANO,
            period,
            Decimal(spent) * NANO,
            Decimal(max(_int(fields.get("reserved", 0)), 0)) * NANO,
            "live",
            now,
        )
    seed = await store.budget_seed(user_id)
    if seed is None:
        spent_ever = await _ledger_total(store, user_id)
        return BudgetView(None, None, spent_ever, Decimal(0), "ledger", now)
    limit, period, spent = seed
    return BudgetView(limit, period, spent, Decimal(0), "ledger", now)


async def _ledger_total(store: AccountsStore, user_id: str) -> Decimal:
    groups = await store.usage_groups(UsageFilter(user_id=user_id))
    return Decimal(groups[0]["cost_usd"]) if groups else Decimal(0)
