"""Per-request admission and settlement: limits, budget reservation, usage record.

`admit` runs one Redis script for all rate limits and one for the budget reservation; after
the model answered, `complete` corrects the token buckets, settles the reservation to the real
cost and appends one usage record to the local outbox; `abort` gives everything back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from accounts.budgets import NO_BUDGET, Reservation
from accounts.errors import BadRequest, BudgetExceeded, Forbidden, RateLimited, Unavailable
from accounts.price_book import PriceBook
from accounts.pricing import from_nano, max_cost, price_request, to_nano
from accounts.ratelimit import Bucket, InMemoryLimiter, RedisLimiter, Verdict
from accounts.redis_guard import REDIS_DOWN, RedisGuard
from accounts.settings import AccountsSettings
from accounts.shedding import ConcurrencyGate
from accounts.spend import SpendGuard
from accounts.tiers import Caller
from accounts.token_bound import REQUEST_OVERHEAD_TOKENS, choices, prompt_token_bound
from accounts.usage import UsageRecord, UsageSink, hash_ip
from routing.catalog import ModelSpec

# More choices than this in one request is refused rather than reserved.
MAX_CHOICES = 128


@dataclass(slots=True)
class Admission:
    """What `admit` granted; hand it back to `complete` or `abort` exactly once."""

    caller: Caller
    model: ModelSpec
    request_id: str
    max_tokens: int
    prompt_tokens: int
    reserved_tokens: int
    output_tokens: int
    buckets: list[Bucket]
    shared_limiter: bool
    reservation: Reservation | None = None
    reserved_cost_usd: Decimal = Decimal(0)
    # The caller's own `x-request-id`: kept beside the ledger id, never instead of it.
    client_request_id: str | None = None
    finished: bool = field(default=False)
    # The buckets' levels once this request was counted (x-ratelimit-* headers).
    levels: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    cost_usd: Decimal
    budget_alert_80: bool = False
    spent_usd: Decimal | None = None
    budget_usd: Decimal | None = None


class HotPath:
    def __init__(
        self,
        settings: AccountsSettings,
        limiter: RedisLimiter,
        spend: SpendGuard,
        prices: PriceBook,
        sink: UsageSink,
        guard: RedisGuard,
        ip_salt: bytes,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.local_limiter = InMemoryLimiter()
        self.spend = spend
        self.prices = prices
        self.sink = sink
        self.guard = guard
        self._ip_salt = ip_salt
        self.gate = ConcurrencyGate(
            settings.demo_max_in_flight,
            settings.registered_max_in_flight,
            settings.shed_retry_after_s,
        )

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
        if self.guard.usable():
            try:
                return await self.limiter.check(buckets), True
            except REDIS_DOWN as exc:
                self.guard.failed(exc, "rate limit check")
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
        *,
        body: Mapping[str, Any] | None = None,
        client_request_id: str | None = None,
    ) -> Admission:
        """Apply tier rules, shedding, rate limits and the budget reservation, in that order.

        `request_id` is the router's own id for this request (the ledger and reservation key);
        `body`, when given, makes the reservation a true upper bound (see `token_bound`).
        """
        if not caller.may_use(model_spec):
            raise Forbidden(f"Model {model_spec.id!r} is not available without an API key.")
        granted = caller.clamp_max_tokens(max_tokens, model_spec.max_output_tokens)
        n = 1
        if body is not None:
            n = choices(body)
            if n > MAX_CHOICES:
                raise BadRequest(f"n is limited to {MAX_CHOICES} choices per request.")
            overhead = self.settings.request_overhead_tokens.get(
                model_spec.id, REQUEST_OVERHEAD_TOKENS
            )
            prompt_tokens = max(prompt_tokens, prompt_token_bound(body, request_overhead=overhead))
        reserved_tokens = prompt_tokens + granted * n
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
                levels=verdict.levels,
                client_request_id=client_request_id,
                output_tokens=granted * n,
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
            admission.output_tokens,
            self.prices.price_for(admission.model.id),
        )
        admission.reservation = await self.spend.reserve(user_id, admission.request_id, cost)
        if admission.reservation is not None:
            admission.reserved_cost_usd = cost

    async def _adjust_tokens(self, admission: Admission, delta: int) -> None:
        token_buckets = [b for b in admission.buckets if b.key.endswith(":t")]
        if not token_buckets or delta == 0:
            return
        if not admission.shared_limiter:
            await self.local_limiter.adjust(token_buckets, delta)
            return
        if not self.guard.usable():
            return
        try:
            await self.limiter.adjust(token_buckets, delta)
        except REDIS_DOWN as exc:
            self.guard.failed(exc, "token correction")

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
                    self.prices.price_for(admission.model.id, usage.version),
                )
            record = usage.model_copy(
                update={
                    # The ledger id is the router's; the caller's id rides along, not unique.
                    "request_id": admission.request_id,
                    "client_request_id": admission.client_request_id,
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
            settled = await self.spend.settle(admission.reservation, to_nano(cost))
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
                await self.spend.settle(admission.reservation, 0)
        finally:
            self.gate.leave()
