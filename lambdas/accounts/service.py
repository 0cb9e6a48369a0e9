"""`AccountsService`: the one object the router holds for auth, limits, budgets and usage.

A thin facade over one part per concern, each in its own module:

- `authn.Authenticator`: who is calling (in-memory key cache, Postgres at most every 30 s);
- `hot_path.HotPath`: `admit` (rate limits, budget reservation), `complete`, `abort`;
- `admin_ops.AdminOps`: users, keys, budgets, prices;
- `reports.Reports`: usage reports; `conversations.Conversations`: opt-in history;
- `feedback.FeedbackStore`: ratings; `model_reports.ModelReports`: model comparison reports.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import keys as keylib
from accounts.admin_ops import AdminOps
from accounts.authn import Authenticator
from accounts.cache import ResponseCache
from accounts.conversation_store import ConversationStore
from accounts.conversations import Conversations
from accounts.feedback import FeedbackStore
from accounts.feedback_stats import feedback_means
from accounts.health import ComponentHealth
from accounts.hot_path import Admission, Completion, HotPath
from accounts.model_reports import ModelReports
from accounts.orphans import OrphanSweep
from accounts.price_book import PriceBook
from accounts.pricing import Price
from accounts.ratelimit import RedisLimiter
from accounts.redis_guard import RedisGuard
from accounts.reports import Reports
from accounts.settings import AccountsSettings
from accounts.shedding import ConcurrencyGate
from accounts.spend import SpendGuard
from accounts.store import AccountsStore
from accounts.usage import UsageSink

__all__ = ["AccountsService", "Admission", "Completion"]


class AccountsService:
    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis,
        sink: UsageSink,
        pepper: bytes,
        admin_key: str | None = None,
        settings: AccountsSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ip_salt: bytes | None = None,
    ) -> None:
        if len(pepper) < 16:
            raise ValueError("the key pepper must be at least 16 bytes")
        self.settings = settings or AccountsSettings()
        self.store = AccountsStore(engine)
        self.redis = redis
        self.sink = sink
        self.wall_clock = wall_clock
        self.key_cache = keylib.KeyCache(
            self.settings.key_cache_ttl_s, self.settings.key_cache_negative_ttl_s, clock
        )
        # After a Redis failure, skip it for a moment instead of paying a timeout per request.
        self.redis_guard = RedisGuard(self.settings.redis_backoff_s, clock)
        self.price_book = PriceBook(self.store)
        self.spend = SpendGuard(
            self.store, redis, self.redis_guard, self.settings.reservation_ttl_s
        )
        self.cache = ResponseCache(redis, self.settings.cache_ttl_s)
        self.authn = Authenticator(
            self.store, self.key_cache, self.settings, pepper, admin_key, wall_clock
        )
        self.hot = HotPath(
            self.settings,
            RedisLimiter(redis),
            self.spend,
            self.price_book,
            sink,
            self.redis_guard,
            ip_salt or pepper,
        )
        self.admin = AdminOps(
            self.store, redis, self.key_cache, self.spend, self.price_book, pepper
        )
        self.reports = Reports(self.store)
        self.conversations = Conversations(ConversationStore(engine))
        self.health = ComponentHealth(engine, redis)
        self.feedback = FeedbackStore(engine)
        self.model_reports = ModelReports(self.store)

        # The public surface the router calls, bound straight to the part that owns it.
        self.authenticate = self.authn.authenticate
        self.admit = self.hot.admit
        self.complete = self.hot.complete
        self.complete_later = self.hot.complete_later
        self.cost_of = self.hot.cost_of
        self.drain_settlements = self.hot.drain
        self.orphans = OrphanSweep(redis, sink, self.spend.budgets)
        self.abort = self.hot.abort
        self.create_user = self.admin.create_user
        self.create_key = self.admin.create_key
        self.revoke_key = self.admin.revoke_key
        self.set_key_optimize = self.admin.set_key_optimize
        self.set_budget = self.admin.set_budget
        self.usage_report = self.reports.usage_report
        self.user_usage = self.reports.user_usage
        self.save_conversation = self.conversations.save_conversation
        self.list_conversations = self.conversations.list_conversations
        self.get_conversation = self.conversations.get_conversation
        self.delete_conversation = self.conversations.delete_conversation
        self.rate_request = self.feedback.rate
        self.model_report = self.model_reports.model_report
        # Mean feedback per model/version/task for the router's history score (off the hot path).
        self.feedback_means = functools.partial(feedback_means, engine)

    # Shared state some callers read directly (tests, the router's price refresh).
    @property
    def gate(self) -> ConcurrencyGate:
        return self.hot.gate

    @property
    def prices(self) -> dict[tuple[str, str | None], Price]:
        return self.price_book.prices

    @prices.setter
    def prices(self, value: dict[tuple[str, str | None], Price]) -> None:
        self.price_book.prices = value

    def price_for(self, model_id: str, version: str | None = None) -> Price | None:
        return self.price_book.price_for(model_id, version)

    async def refresh_prices(self) -> None:
        await self.price_book.refresh()

    async def aclose(self) -> None:
        """Release the Redis connections: the hot path's own, then the client's pool."""
        await self.hot.aclose()
        await self.redis.aclose()

    async def component_states(self) -> dict[str, str]:
        """Each dependency's real state ("ok" or "down"): PostgreSQL and Redis."""
        return await self.health.states()

    async def set_price(self, model_id: str, version: str | None, price: Price) -> None:
        await self.admin.set_price(model_id, version, price)
