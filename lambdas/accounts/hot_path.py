"""Per-request admission and settlement: limits, budget reservation, usage record.

`admit` runs ONE Redis script for all rate limits, the budget reservation and the request's
intent (`accounts.admission_script`). After the model answered, `complete` (awaited) or
`complete_later` (after the response, batched by `accounts.settler`) spools the usage record and
then runs one settle script: token correction, the real cost, the intent dropped. `abort` gives
everything back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from accounts.admission_script import AdmissionScripts, Budget, Settlement
from accounts.budgets import NO_BUDGET, Reservation
from accounts.errors import (
    BadRequest,
    BudgetExceeded,
    BudgetUnavailable,
    Forbidden,
    Unavailable,
)
from accounts.orphans import intent_body
from accounts.price_book import PriceBook
from accounts.pricing import from_nano, max_cost, price_request, to_nano
from accounts.ratelimit import Bucket, InMemoryLimiter, RedisLimiter, rate_limited
from accounts.redis_guard import REDIS_DOWN, RedisGuard
from accounts.settings import AccountsSettings
from accounts.settler import Settler
from accounts.shedding import ConcurrencyGate
from accounts.spend import SpendGuard, budget_exceeded
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
        self.local_limiter = InMemoryLimiter()
        self.spend = spend
        self.prices = prices
        self.sink = sink
        self.guard = guard
        self._ip_salt = ip_salt
        self.scripts = AdmissionScripts(limiter.redis, limiter.clock)
        self.settler = Settler(sink, self.settle_batch)
        self._ttl_ms = int(settings.reservation_ttl_s * 1000)
        # An intent outlives any request that could still be running (the router's deadline is
        # far shorter), so only a dead router's intents expire; and it expires before its
        # budget reservation would, so the sweeper still finds the reservation to charge.
        self._intent_ttl_ms = int(self._ttl_ms * 0.9)
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
            admission = Admission(
                caller=caller,
                model=model_spec,
                request_id=request_id or uuid.uuid4().hex,
                max_tokens=granted,
                prompt_tokens=prompt_tokens,
                reserved_tokens=reserved_tokens,
                buckets=self._buckets(caller, reserved_tokens),
                shared_limiter=False,
                client_request_id=client_request_id,
                output_tokens=granted * n,
            )
            if self.guard.usable():
                try:
                    await self._admit_shared(admission)
                    return admission
                except REDIS_DOWN as exc:
                    self.guard.failed(exc, "admission")
            await self._admit_local(admission)
            return admission
        except BaseException:
            self.gate.leave()
            raise

    def _max_cost(self, admission: Admission) -> Decimal:
        return max_cost(
            admission.model,
            admission.prompt_tokens,
            admission.output_tokens,
            self.prices.price_for(admission.model.id),
        )

    async def _admit_shared(self, admission: Admission) -> None:
        """Limits, budget and intent in one script: all booked, or nothing."""
        caller = admission.caller
        rid = admission.request_id
        now_ms = int(time.time() * 1000)
        budget = None
        cost = self._max_cost(admission)
        if caller.user_id is not None:
            budget = Budget(caller.user_id, rid, to_nano(cost), now_ms, self._ttl_ms)
        intent = intent_body(admission, cost)
        expiry = now_ms + self._intent_ttl_ms
        result = await self.scripts.admit(admission.buckets, budget, rid, intent, expiry)
        if result.state == "needs_seed" and caller.user_id is not None:
            await self.spend.seed(caller.user_id)
            result = await self.scripts.admit(admission.buckets, budget, rid, intent, expiry)
        if result.state == "limited":
            raise rate_limited(result.failed, result.retry_after_s)
        if result.state == "over_budget":
            raise budget_exceeded(cost, result.limit_nano, result.spent_nano, result.reserved_nano)
        if result.state != "ok":
            raise BudgetUnavailable("Budgets are temporarily unavailable; please retry.", 5)
        admission.shared_limiter = True
        admission.levels = result.levels
        if result.reserved and caller.user_id is not None:
            admission.reservation = Reservation(caller.user_id, rid, to_nano(cost))
            admission.reserved_cost_usd = cost

    async def _admit_local(self, admission: Admission) -> None:
        """Redis is down: per-process limits, and the budget seeded from Postgres."""
        if admission.caller.tier == "demo":
            # Per-process limits would multiply the anonymous allowance: fail closed instead.
            raise Unavailable(
                "The demo is temporarily unavailable; please retry later.",
                retry_after=self.settings.limiter_down_retry_after_s,
            )
        verdict = await self.local_limiter.check(admission.buckets)
        if not verdict.allowed:
            raise rate_limited(verdict.failed, verdict.retry_after_s)
        admission.levels = verdict.levels
        if admission.caller.user_id is not None:
            try:
                await self._reserve(admission)
            except BudgetExceeded:
                await self._adjust_local_tokens(admission, -admission.reserved_tokens)
                raise

    async def _reserve(self, admission: Admission) -> None:
        user_id = admission.caller.user_id
        assert user_id is not None
        cost = self._max_cost(admission)
        admission.reservation = await self.spend.reserve(user_id, admission.request_id, cost)
        if admission.reservation is not None:
            admission.reserved_cost_usd = cost

    async def _adjust_local_tokens(self, admission: Admission, delta: int) -> None:
        """Token correction for an admission the per-process limiter made (Redis was down);
        shared admissions are corrected by the settle script."""
        token_buckets = [b for b in admission.buckets if b.key.endswith(":t")]
        if token_buckets and delta:
            await self.local_limiter.adjust(token_buckets, delta)

    def cost_of(
        self, admission: Admission, tokens_in: int, tokens_out: int, version: str | None
    ) -> Decimal:
        """What a served request costs at the admitted model's (version's) price."""
        price = self.prices.price_for(admission.model.id, version)
        return price_request(admission.model, tokens_in, tokens_out, price)

    def _finish(self, admission: Admission, usage: UsageRecord) -> UsageRecord:
        """The ledger record of a served request; the request no longer counts as in flight."""
        if admission.finished:
            raise RuntimeError("admission already completed or aborted")
        admission.finished = True
        self.gate.leave()
        caller = admission.caller
        cost = usage.cost_usd
        if cost is None:
            cost = self.cost_of(admission, usage.tokens_in, usage.tokens_out, usage.version)
        return usage.model_copy(
            update={
                # The ledger id is the router's; the caller's id rides along, not unique.
                "request_id": admission.request_id,
                "client_request_id": admission.client_request_id,
                "cost_usd": cost,
                "tier": caller.tier,
                "user_id": caller.user_id,
                "key_prefix": caller.ledger_key_prefix,
                "client_ip_hash": (
                    hash_ip(caller.client_ip, self._ip_salt)
                    if caller.tier == "demo" and caller.client_ip
                    else None
                ),
            }
        )

    async def complete(self, admission: Admission, usage: UsageRecord) -> Completion:
        """Spool the usage record, then settle the reservation to the real cost (awaited)."""
        record = self._finish(admission, usage)
        # The usage record goes first: it is the durable fact; everything after is counters.
        await self.sink.put(record)
        return (await self.settle_batch([(admission, record)]))[0]

    def complete_later(
        self,
        admission: Admission,
        usage: UsageRecord,
        on_settled: Callable[[UsageRecord, Completion], None] | None = None,
    ) -> Completion:
        """The real cost now; spooling and settling happen after the response, in batches.

        Until the record is spooled the request's intent stays in Redis, so a router that
        dies meanwhile loses nothing (`accounts.orphans`).
        """
        record = self._finish(admission, usage)
        self.settler.submit(admission, record, on_settled)
        return Completion(record.cost_usd or Decimal(0))

    async def settle_batch(
        self, batch: Sequence[tuple[Admission, UsageRecord]]
    ) -> list[Completion]:
        """Correct tokens and settle budgets of spooled records: one round trip for the batch."""
        out: list[Completion | None] = [None] * len(batch)
        shared: list[int] = []
        for i, (admission, record) in enumerate(batch):
            if admission.shared_limiter:
                shared.append(i)
                continue
            out[i] = await self._settle_local(admission, record)
        if shared:
            settled = await self._settle_shared([batch[i] for i in shared])
            for i, completion in zip(shared, settled, strict=True):
                out[i] = completion
        return [c if c is not None else Completion(Decimal(0)) for c in out]

    def _settlement(self, admission: Admission, used_tokens: int, actual_nano: int) -> Settlement:
        return Settlement(
            token_buckets=[b for b in admission.buckets if b.key.endswith(":t")],
            token_delta=used_tokens - admission.reserved_tokens,
            rid=admission.request_id,
            user_id=admission.reservation.user_id if admission.reservation else None,
            actual_nano=actual_nano,
        )

    async def _settle_shared(
        self, batch: Sequence[tuple[Admission, UsageRecord]]
    ) -> list[Completion]:
        costs = [record.cost_usd or Decimal(0) for _, record in batch]
        if not self.guard.usable():
            # The reservations expire on their own; the ledger keeps the durable spend.
            return [Completion(c) for c in costs]
        items = [
            self._settlement(a, r.tokens_in + r.tokens_out, to_nano(c))
            for (a, r), c in zip(batch, costs, strict=True)
        ]
        try:
            settled = await self.scripts.settle_many(items)
        except REDIS_DOWN as exc:
            self.guard.failed(exc, "settle")
            return [Completion(c) for c in costs]
        return [_completion(c, s) for c, s in zip(costs, settled, strict=True)]

    async def _settle_local(self, admission: Admission, record: UsageRecord) -> Completion:
        cost = record.cost_usd or Decimal(0)
        await self._adjust_local_tokens(
            admission, record.tokens_in + record.tokens_out - admission.reserved_tokens
        )
        if admission.reservation is None:
            return Completion(cost)
        settled = await self.spend.settle(admission.reservation, to_nano(cost))
        return _completion(cost, settled)

    async def abort(self, admission: Admission) -> None:
        """Nothing was served: release the reservation, the reserved tokens and the intent."""
        if admission.finished:
            return
        admission.finished = True
        try:
            if admission.shared_limiter:
                # With Redis away the reservation and the intent expire on their own.
                if self.guard.usable():
                    try:
                        await self.scripts.settle_many([self._settlement(admission, 0, 0)])
                    except REDIS_DOWN as exc:
                        self.guard.failed(exc, "abort")
                return
            await self._adjust_local_tokens(admission, -admission.reserved_tokens)
            if admission.reservation is not None:
                await self.spend.settle(admission.reservation, 0)
        finally:
            self.gate.leave()

    async def drain(self) -> None:
        """Wait until every deferred record is spooled and settled (shutdown, tests)."""
        await self.settler.flush()

    async def aclose(self) -> None:
        """Close the scripts' own Redis connections (after `drain`)."""
        await self.scripts.aclose()


def _completion(cost: Decimal, settled: Any) -> Completion:
    if settled.limit_nano == NO_BUDGET or settled.needs_seed:
        return Completion(cost)
    return Completion(
        cost, settled.alert_80, from_nano(settled.spent_nano), from_nano(settled.limit_nano)
    )
