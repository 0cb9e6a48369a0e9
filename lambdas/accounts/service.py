"""`AccountsService`: the one object the router holds for auth, limits, budgets and usage.

Hot path per request: `authenticate` (in-memory key cache, Postgres at most every 30 s per key),
`admit` (one Redis script for all rate limits, one for the budget reservation), then, after the
model answered, `complete` (token correction, budget settle, one local outbox append) or `abort`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import cognito
from accounts import keys as keylib
from accounts.budgets import (
    NO_BUDGET,
    LocalBudgets,
    RedisBudgets,
    Reservation,
    ReserveResult,
    SettleResult,
)
from accounts.cache import ResponseCache
from accounts.errors import AuthError, BudgetExceeded, Forbidden, NotFound, RateLimited, Unavailable
from accounts.pricing import Price, from_nano, max_cost, price_request, to_nano
from accounts.ratelimit import Bucket, InMemoryLimiter, RedisLimiter, Verdict
from accounts.settings import AccountsSettings
from accounts.shedding import ConcurrencyGate
from accounts.store import AccountsStore, UsageFilter
from accounts.tiers import TIERS, Caller, Tier
from accounts.usage import UsageRecord, UsageSink, hash_ip
from routing.catalog import ModelSpec

log = logging.getLogger(__name__)
_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)


@dataclass(slots=True)
class Admission:
    """What `admit` granted; hand it back to `complete` or `abort` exactly once."""

    caller: Caller
    model: ModelSpec
    request_id: str
    max_tokens: int
    prompt_tokens: int
    reserved_tokens: int
    buckets: list[Bucket]
    shared_limiter: bool
    reservation: Reservation | None = None
    reserved_cost_usd: Decimal = Decimal(0)
    finished: bool = field(default=False)


@dataclass(frozen=True, slots=True)
class Completion:
    cost_usd: Decimal
    budget_alert_80: bool = False
    spent_usd: Decimal | None = None
    budget_usd: Decimal | None = None


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
        self._pepper = pepper
        self._admin_key = admin_key
        self._ip_salt = ip_salt or pepper
        self.wall_clock = wall_clock
        self.key_cache = keylib.KeyCache(
            self.settings.key_cache_ttl_s, self.settings.key_cache_negative_ttl_s, clock
        )
        self.limiter = RedisLimiter(redis)
        self.local_limiter = InMemoryLimiter()
        self.budgets = RedisBudgets(redis, self.settings.reservation_ttl_s)
        self.local_budgets = LocalBudgets()
        self.cache = ResponseCache(redis, self.settings.cache_ttl_s)
        self.gate = ConcurrencyGate(
            self.settings.demo_max_in_flight,
            self.settings.registered_max_in_flight,
            self.settings.shed_retry_after_s,
        )
        self.prices: dict[tuple[str, str | None], Price] = {}
        self._clock = clock
        # After a Redis failure, skip it for a moment instead of paying a timeout per request.
        self._redis_down_until = 0.0

    def _redis_usable(self) -> bool:
        return self._clock() >= self._redis_down_until

    def _redis_failed(self, exc: BaseException, what: str) -> None:
        self._redis_down_until = self._clock() + self.settings.redis_backoff_s
        log.warning("%s: Redis unavailable (%s)", what, type(exc).__name__)

    def price_for(self, model_id: str, version: str | None = None) -> Price | None:
        """A `prices` row for this model version, else for the model, else None (use the spec)."""
        return self.prices.get((model_id, version)) or self.prices.get((model_id, None))

    async def refresh_prices(self) -> None:
        """Reload price overrides from Postgres (call at start-up and on a timer)."""
        self.prices = await self.store.load_prices()

    # Authentication

    async def authenticate(self, authorization_header: str | None, client_ip: str) -> Caller:
        """Caller for this request; no header means demo. Raises AuthError for any bad key."""
        if authorization_header is None or not authorization_header.strip():
            return Caller("demo", self.settings.limits["demo"], client_ip=client_ip)
        token = keylib.bearer_token(authorization_header)
        if token is None:
            raise AuthError()
        if self._admin_key and hmac.compare_digest(token.encode(), self._admin_key.encode()):
            return Caller("admin", self.settings.limits["admin"], key_prefix="admin")
        if cognito.looks_like_jwt(token) and (auth := cognito.configured()) is not None:
            return await auth.caller(token, self.store, self.settings.limits)
        parsed = keylib.parse(token)
        if parsed is None:
            raise AuthError()
        prefix, secret = parsed
        hit, record = self.key_cache.get(prefix)
        if not hit:
            try:
                record = await self.store.load_key(prefix)
            except (SQLAlchemyError, OSError) as exc:
                log.error("key lookup failed (%s)", type(exc).__name__)
                raise Unavailable(
                    "Authentication is temporarily unavailable; please retry.", retry_after=5
                ) from None
            self.key_cache.put(prefix, record)
        ok = keylib.verify(self._pepper, secret, record.secret_hash if record else None)
        if not ok or record is None or record.revoked or record.user_disabled:
            raise AuthError()
        if record.expires_at is not None and record.expires_at <= self.wall_clock():
            raise AuthError()
        tier: Tier = record.tier if record.tier in TIERS else "registered"  # type: ignore[assignment]
        if tier == "demo":
            tier = "registered"  # a key always lifts the caller out of the anonymous tier
        return Caller(
            tier,
            self.settings.limits[tier],
            user_id=record.user_id,
            key_prefix=record.prefix,
            scopes=record.scopes,
        )

    # Admission

    def _buckets(self, caller: Caller, tokens: int) -> list[Bucket]:
        lim = caller.limits
        out: list[Bucket] = []

        def add(scope: str, rpm: int | None, tpm: int | None) -> None:
            if rpm is not None:
                out.append(Bucket(f"mf:rl:{scope}:r", rpm, 1, label=f"{scope} requests/min"))
            if tpm is not None:
                out.append(Bucket(f"mf:rl:{scope}:t", tpm, tokens, label=f"{scope} tokens/min"))

        if caller.key_prefix and caller.tier != "demo":
            add(f"key:{caller.key_prefix}", lim.per_key_rpm, lim.per_key_tpm)
        add(f"sub:{caller.subject}", lim.per_subject_rpm, lim.per_subject_tpm)
        add(f"tier:{caller.tier}", lim.tier_rpm, lim.tier_tpm)
        return out

    async def _check_limits(self, caller: Caller, buckets: list[Bucket]) -> tuple[Verdict, bool]:
        if self._redis_usable():
            try:
                return await self.limiter.check(buckets), True
            except _REDIS_DOWN as exc:
                self._redis_failed(exc, "rate limit check")
        if caller.tier == "demo":
            # Per-process limits would multiply the anonymous allowance: fail closed instead.
            raise Unavailable(
                "The demo is temporarily unavailable; please retry later.",
                retry_after=self.settings.limiter_down_retry_after_s,
            )
        return await self.local_limiter.check(buckets), False

    async def admit(
        self,
        caller: Caller,
        model_spec: ModelSpec,
        prompt_tokens: int,
        max_tokens: int | None,
        request_id: str | None = None,
    ) -> Admission:
        """Apply tier rules, shedding, rate limits and the budget reservation, in that order."""
        if caller.limits.demo_models_only and not model_spec.demo:
            raise Forbidden(f"Model {model_spec.id!r} is not available without an API key.")
        granted = caller.clamp_max_tokens(max_tokens, model_spec.max_output_tokens)
        reserved_tokens = prompt_tokens + granted
        self.gate.enter(caller.tier)
        try:
            buckets = self._buckets(caller, reserved_tokens)
            verdict, shared = await self._check_limits(caller, buckets)
            if not verdict.allowed:
                label = verdict.failed.label if verdict.failed else "rate"
                raise RateLimited(
                    f"Rate limit exceeded ({label}); retry after {verdict.retry_after_s} s.",
                    retry_after=verdict.retry_after_s,
                )
            admission = Admission(
                caller=caller,
                model=model_spec,
                request_id=request_id or uuid.uuid4().hex,
                max_tokens=granted,
                prompt_tokens=prompt_tokens,
                reserved_tokens=reserved_tokens,
                buckets=buckets,
                shared_limiter=shared,
            )
            if caller.user_id is not None:
                try:
                    await self._reserve(admission)
                except BudgetExceeded:
                    await self._adjust_tokens(admission, -reserved_tokens)
                    raise
            return admission
        except BaseException:
            self.gate.leave()
            raise

    async def _reserve(self, admission: Admission) -> None:
        user_id = admission.caller.user_id
        assert user_id is not None
        cost = max_cost(
            admission.model,
            admission.prompt_tokens,
            admission.max_tokens,
            self.price_for(admission.model.id),
        )
        amount = to_nano(cost)
        rid = admission.request_id
        result: ReserveResult | None = None
        if self._redis_usable():
            try:
                result = await self.budgets.reserve(user_id, rid, amount)
                if result.needs_seed:
                    await self._seed(user_id)
                    result = await self.budgets.reserve(user_id, rid, amount)
            except _REDIS_DOWN as exc:
                self._redis_failed(exc, "budget reservation")
                result = None
        local = result is None
        if result is None:
            result = await self._reserve_local(user_id, rid, amount)
        if not result.ok:
            remaining = from_nano(
                max(0, result.limit_nano - result.spent_nano - result.reserved_nano)
            )
            raise BudgetExceeded(
                f"Budget exhausted: this request may cost up to ${cost}, "
                f"${remaining} of the ${from_nano(result.limit_nano)} budget is left."
            )
        if result.limit_nano != NO_BUDGET:
            admission.reservation = Reservation(user_id, rid, amount, local)
            admission.reserved_cost_usd = cost

    async def _budget_from_db(self, user_id: str) -> tuple[int, str, int]:
        seed = await self.store.budget_seed(user_id)
        if seed is None:
            return NO_BUDGET, "total", 0
        limit, period, spent = seed
        return to_nano(limit), period, to_nano(spent)

    async def _seed(self, user_id: str) -> None:
        limit, period, spent = await self._budget_from_db(user_id)
        await self.budgets.seed(user_id, limit, period, spent)

    async def _reserve_local(self, user_id: str, rid: str, amount: int) -> ReserveResult:
        if not self.local_budgets.has(user_id):
            limit, _, spent = await self._budget_from_db(user_id)
            self.local_budgets.seed(user_id, limit, spent)
        return self.local_budgets.reserve(user_id, rid, amount)

    async def _adjust_tokens(self, admission: Admission, delta: int) -> None:
        token_buckets = [b for b in admission.buckets if b.key.endswith(":t")]
        if not token_buckets or delta == 0:
            return
        if not admission.shared_limiter:
            await self.local_limiter.adjust(token_buckets, delta)
            return
        if not self._redis_usable():
            return
        try:
            await self.limiter.adjust(token_buckets, delta)
        except _REDIS_DOWN as exc:
            self._redis_failed(exc, "token correction")

    async def _settle(self, reservation: Reservation, actual_nano: int) -> SettleResult:
        if reservation.local:
            return self.local_budgets.settle(reservation, actual_nano)
        if not self._redis_usable():
            return SettleResult()
        try:
            return await self.budgets.settle(reservation, actual_nano)
        except _REDIS_DOWN as exc:
            # The reservation expires on its own; the ledger keeps the durable spend.
            self._redis_failed(exc, "budget settle")
            return SettleResult()

    async def complete(self, admission: Admission, usage: UsageRecord) -> Completion:
        """Settle the reservation to the real cost and enqueue the usage record."""
        if admission.finished:
            raise RuntimeError("admission already completed or aborted")
        admission.finished = True
        try:
            caller = admission.caller
            cost = usage.cost_usd
            if cost is None:
                cost = price_request(
                    admission.model,
                    usage.tokens_in,
                    usage.tokens_out,
                    self.price_for(admission.model.id, usage.version),
                )
            record = usage.model_copy(
                update={
                    "cost_usd": cost,
                    "tier": caller.tier,
                    "user_id": caller.user_id,
                    "key_prefix": caller.key_prefix if caller.key_prefix != "admin" else None,
                    "client_ip_hash": (
                        hash_ip(caller.client_ip, self._ip_salt)
                        if caller.tier == "demo" and caller.client_ip
                        else None
                    ),
                }
            )
            # The usage record goes first: it is the durable fact; everything after is counters.
            await self.sink.put(record)
            await self._adjust_tokens(
                admission, usage.tokens_in + usage.tokens_out - admission.reserved_tokens
            )
            if admission.reservation is None:
                return Completion(cost)
            settled = await self._settle(admission.reservation, to_nano(cost))
            if settled.limit_nano == NO_BUDGET:
                return Completion(cost)
            return Completion(
                cost,
                settled.alert_80,
                from_nano(settled.spent_nano),
                from_nano(settled.limit_nano),
            )
        finally:
            self.gate.leave()

    async def abort(self, admission: Admission) -> None:
        """Nothing was served: release the reservation and the reserved tokens."""
        if admission.finished:
            return
        admission.finished = True
        try:
            await self._adjust_tokens(admission, -admission.reserved_tokens)
            if admission.reservation is not None:
                await self._settle(admission.reservation, 0)
        finally:
            self.gate.leave()

    # Admin operations

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

    async def set_budget(self, user_id: str, usd: Decimal, period: str = "total") -> None:
        if not await self.store.user_exists(user_id):
            raise NotFound("No such user.")
        await self.store.set_budget(user_id, usd, period)
        self.local_budgets.clear()
        try:
            current = await self.redis.hget(f"mf:budget:{{{user_id}}}", "limit")
            if current is None or int(current) == NO_BUDGET:
                await self.budgets.forget(user_id)  # re-seeded from Postgres on next use
            else:
                await self.budgets.set_limit(user_id, to_nano(usd), period)
        except _REDIS_DOWN:
            log.warning("budget cache not updated; it is re-seeded when Redis returns")

    async def set_price(self, model_id: str, version: str | None, price: Price) -> None:
        """Override configured prices for a model (or one version of it)."""
        await self.store.set_price(model_id, version, price)
        await self.refresh_prices()

    async def usage_report(self, flt: UsageFilter, row_limit: int = 1000) -> dict[str, Any]:
        groups = self.store.usage_groups
        async with self.store.consistent_read() as conn:
            totals = await groups(flt, conn=conn)
            return {
                "filters": {
                    k: (str(v) if v is not None else None) for k, v in vars_of(flt).items()
                },
                "totals": totals[0] if totals else {},
                "by_model": await groups(flt, "model", conn=conn),
                "by_version": await groups(flt, "model", "version", conn=conn),
                "by_user": await groups(flt, "user_id", conn=conn),
                "rows": await self.store.usage_rows(flt, row_limit, conn=conn),
            }

    async def user_usage(
        self,
        user_id: str,
        since: datetime | None = None,
        until: datetime | None = None,
        row_limit: int = 1000,
    ) -> dict[str, Any]:
        flt = UsageFilter(user_id=user_id, since=since, until=until)
        async with self.store.consistent_read() as conn:
            totals = await self.store.usage_groups(flt, conn=conn)
            rows = await self.store.usage_rows(flt, row_limit, conn=conn)
        for row in rows:
            row.pop("user_id", None)
        return {"data": rows, "summary": totals[0] if totals else {}}

    # Conversations (opt-in)

    async def save_conversation(
        self,
        user_id: str,
        messages: list[dict[str, str]],
        conversation_id: str | None = None,
        model: str | None = None,
        title: str | None = None,
        new_id: str | None = None,
    ) -> str:
        try:
            return await self.store.save_messages(
                user_id, conversation_id, messages, model, title, new_id
            )
        except LookupError:
            raise NotFound("No such conversation.") from None

    async def list_conversations(self, user_id: str) -> list[dict[str, Any]]:
        return await self.store.list_conversations(user_id)

    async def get_conversation(self, user_id: str, conversation_id: str) -> dict[str, Any]:
        found = await self.store.get_conversation(user_id, conversation_id)
        if found is None:
            raise NotFound("No such conversation.")
        return found

    async def delete_conversation(self, user_id: str, conversation_id: str) -> None:
        if not await self.store.delete_conversation(user_id, conversation_id):
            raise NotFound("No such conversation.")


def vars_of(flt: UsageFilter) -> dict[str, Any]:
    return {name: getattr(flt, name) for name in flt.__slots__}
