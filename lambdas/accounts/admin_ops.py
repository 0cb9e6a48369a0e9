"""Admin CRUD: users, keys, budgets and prices (each change reaches the hot path's caches)."""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

from accounts import keys as keylib
from accounts.budgets import NO_BUDGET
from accounts.errors import NotFound
from accounts.price_book import PriceBook
from accounts.pricing import Price, to_nano
from accounts.redis_guard import REDIS_DOWN
from accounts.self_store import KeyLimitReached, NewKeyRow, SelfServiceStore
from accounts.spend import SpendGuard
from accounts.store import AccountsStore
from accounts.tiers import TIERS, Tier

log = logging.getLogger(__name__)


class AdminOps:
    def __init__(
        self,
        store: AccountsStore,
        redis: Redis,
        key_cache: keylib.KeyCache,
        spend: SpendGuard,
        prices: PriceBook,
        pepper: bytes,
    ) -> None:
        self.store = store
        self.redis = redis
        self.key_cache = key_cache
        self.spend = spend
        self.prices = prices
        self._pepper = pepper
        self.own = SelfServiceStore(store.engine)

    async def create_user(self, name: str, tier: Tier = "registered") -> str:
        if tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}")
        return await self.store.create_user(name, tier)

    async def create_key(
        self,
        user_id: str,
        scopes: tuple[str, ...] = (),
        tier_override: Tier | None = None,
        expires_at: datetime | None = None,
        optimize: str | None = None,
    ) -> str:
        """Create a key and return it in full. It is never retrievable again."""
        if not await self.store.user_exists(user_id):
            raise NotFound("No such user.")
        new = keylib.generate()
        await self.store.insert_key(
            user_id,
            new.prefix,
            keylib.hash_secret(self._pepper, new.secret),
            scopes,
            tier_override,
            expires_at,
            optimize,
        )
        self.key_cache.invalidate(new.prefix)
        log.info("created API key %s for user %s", new.prefix, user_id)
        return new.full

    async def revoke_key(self, prefix: str) -> bool:
        """Revoke now here; other router processes follow within the key cache TTL (≤ 30 s)."""
        revoked = await self.store.revoke_key(prefix)
        self.key_cache.invalidate(prefix)
        log.info("revoked API key %s (found=%s)", prefix, revoked)
        return revoked

    async def create_own_key(
        self,
        user_id: str,
        scopes: tuple[str, ...],
        name: str | None,
        expires_at: datetime | None,
        max_active: int,
    ) -> str | None:
        """A user's own new key (their tier, these scopes), or None when they hold `max_active`."""
        new = keylib.generate()
        row = NewKeyRow(
            user_id,
            new.prefix,
            keylib.hash_secret(self._pepper, new.secret),
            scopes,
            name,
            expires_at,
        )
        try:
            await self.own.insert_key_within_limit(row, max_active)
        except KeyLimitReached:
            return None
        self.key_cache.invalidate(new.prefix)
        log.info("user %s created API key %s", user_id, new.prefix)
        return new.full

    async def revoke_own_key(self, user_id: str, prefix: str) -> bool:
        """Revoke a key only if it is this user's; other processes follow within the TTL."""
        revoked = await self.own.revoke_own_key(user_id, prefix)
        self.key_cache.invalidate(prefix)
        log.info("user %s revoked API key %s (found=%s)", user_id, prefix, revoked)
        return revoked

    async def list_users(
        self, limit: int, offset: int, now: datetime, newest_first: bool = False
    ) -> dict[str, Any]:
        """A page of every user, whether or not they have usage, with keys, budget and spend."""
        rows, total = await self.own.users_page(limit, offset, newest_first)
        start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        spend = await self.own.spend_by_user([r["id"] for r in rows], start)
        data = []
        for r in rows:
            all_time, month = spend.get(r["id"], (Decimal(0), Decimal(0)))
            spent = month if r["budget_period"] == "monthly" else all_time
            data.append(
                {
                    "id": r["id"],
                    "name": r["name"],
                    "tier": r["tier"],
                    "created_at": r["created_at"],
                    "disabled": r["disabled"],
                    "keys": int(r["keys"]),
                    "budget_usd": r["budget_usd"],
                    "budget_period": r["budget_period"],
                    "spent_usd": str(spent.normalize()) if spent else "0",
                }
            )
        following = offset + len(rows)
        return {
            "data": data,
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": following if following < total else None,
        }

    async def set_key_optimize(self, prefix: str, optimize: str | None) -> bool:
        """Change a key's default goal; other processes follow within the key cache TTL."""
        found = await self.store.set_key_optimize(prefix, optimize)
        self.key_cache.invalidate(prefix)
        log.info("key %s optimize=%s (found=%s)", prefix, optimize, found)
        return found

    async def set_budget(self, user_id: str, usd: Decimal, period: str = "total") -> None:
        if not await self.store.user_exists(user_id):
            raise NotFound("No such user.")
        await self.store.set_budget(user_id, usd, period)
        self.spend.local_budgets.clear()
        budgets = self.spend.budgets
        try:
            current = await self.redis.hget(f"mf:budget:{{{user_id}}}", "limit")
            if current is None or int(current) == NO_BUDGET:
                await budgets.forget(user_id)  # re-seeded from Postgres on next use
            else:
                await budgets.set_limit(user_id, to_nano(usd), period)
        except REDIS_DOWN:
            log.warning("budget cache not updated; it is re-seeded when Redis returns")

    async def set_price(self, model_id: str, version: str | None, price: Price) -> None:
        """Override configured prices for a model (or one version of it)."""
        await self.store.set_price(model_id, version, price)
        await self.prices.refresh()
