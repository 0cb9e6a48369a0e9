"""One Redis round trip before the model is called, one after: the hot path's two scripts.

`ADMIT` checks every rate-limit bucket and the budget together and then either books all of it
(the bucket levels, the budget reservation, and an *intent*: what was admitted, kept until its
usage record is safely spooled) or nothing. `SETTLE` runs after the answer: it corrects the token
buckets to the real usage, settles the reservation to the real cost and drops the intent.

The intent is what makes the after-response work safe to defer: if a router dies between
admitting a request and spooling its usage, `accounts.orphans` finds the expired intent and
writes the ledger row from it, charged at the reservation (never less than the real cost).

The scripts touch keys of several users and tiers, so they assume one Redis shard (the stacks
deploy a single node group; cluster mode would need hash tags per caller).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from accounts.budgets import BUDGET_FUNCTIONS, SETTLE_FUNCTION, _keys, month_id
from accounts.ratelimit import ADJUST, APPLY, LEAK, NOW, Bucket
from accounts.script_wire import WireScript

INTENTS = "mf:intent"
INTENT_EXPIRY = "mf:intent:exp"
# Budget keys for a caller without a user (never read: `has_budget` is 0).
_NO_USER = _keys("-")

# KEYS: nb buckets, budget hash, reservations, expiries, intents, intent expiries.
# ARGV: now (-1 = Redis TIME), nb, nb x (limit, period, cost), has_budget, rid, amount (nano),
#       wall now (ms), reservation ttl (ms), month, intent body, intent expiry (ms).
ADMIT = (
    NOW
    + "local nb, a0 = tonumber(ARGV[2]), 2\n"
    + LEAK
    + "if failing > 0 then return {0, tostring(math.ceil(worst)), failing} end\n"
    + """
local b = 3 + nb * 3
local bk, rk, ek = KEYS[nb + 1], KEYS[nb + 2], KEYS[nb + 3]
local rid, amount, bnow, ttl, month = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]),
  tonumber(ARGV[b + 4]), ARGV[b + 5]
"""
    + BUDGET_FUNCTIONS
    + """
local bstate, spent, reserved, limit = 0, 0, 0, 0
if ARGV[b] == '1' then
  bstate, spent, reserved, limit = budget_check()
  if bstate == -1 then return {-1} end
  if bstate == 0 then return {-2, spent, reserved, limit} end
end
"""
    + APPLY
    + """
if bstate == 1 then budget_book() reserved = reserved + amount end
redis.call('HSET', KEYS[nb + 4], rid, ARGV[b + 6])
redis.call('ZADD', KEYS[nb + 5], tonumber(ARGV[b + 7]), rid)
local out = {1, bstate, spent, reserved, limit}
for i = 1, nb do out[5 + i] = string.format('%.17g', levels[i]) end
return out
"""
)

# KEYS: nb token buckets, budget hash, reservations, expiries, intents, intent expiries.
# ARGV: now, nb, nb x (limit, period, delta), has_budget, rid, actual cost (nano).
SETTLE = (
    NOW
    + "local nb, a0 = tonumber(ARGV[2]), 2\n"
    + ADJUST
    + """
local b = 3 + nb * 3
local bk, rk, ek, rid = KEYS[nb + 1], KEYS[nb + 2], KEYS[nb + 3], ARGV[b + 1]
redis.call('HDEL', KEYS[nb + 4], rid)
redis.call('ZREM', KEYS[nb + 5], rid)
"""
    + SETTLE_FUNCTION
    + """
if ARGV[b] ~= '1' then return {0, 0, 0, 0} end
local state, spent, limit, alert = budget_settle(tonumber(ARGV[b + 2]))
return {state, spent, limit, alert}
"""
)


@dataclass(frozen=True, slots=True)
class Budget:
    """The reservation asked for: `amount_nano` for request `rid` of `user_id`."""

    user_id: str
    rid: str
    amount_nano: int
    now_ms: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class AdmitResult:
    # "ok", "limited", "needs_seed" or "over_budget"
    state: str
    retry_after_s: int = 0
    failed: Bucket | None = None
    levels: tuple[float, ...] = ()
    # The budget: booked (True), no budget for this user (False), or not asked (None).
    reserved: bool | None = None
    spent_nano: int = 0
    reserved_nano: int = 0
    limit_nano: int = 0


@dataclass(frozen=True, slots=True)
class Settlement:
    """One request's settle: token corrections, the real cost, the intent to drop."""

    token_buckets: Sequence[Bucket]
    token_delta: float
    rid: str
    user_id: str | None
    actual_nano: int


@dataclass(frozen=True, slots=True)
class Settled:
    needs_seed: bool = False
    spent_nano: int = 0
    limit_nano: int = -1
    alert_80: bool = False


def _script_keys(buckets: Sequence[Bucket], user_id: str | None) -> list[str]:
    """Both scripts' KEYS: the buckets, the user's budget keys, the intents."""
    budget = _keys(user_id) if user_id else _NO_USER
    return [*(b.key for b in buckets), *budget, INTENTS, INTENT_EXPIRY]


def _bucket_args(buckets: Sequence[Bucket], amounts: Sequence[float]) -> list[str]:
    args = [str(len(buckets))]
    for bucket, amount in zip(buckets, amounts, strict=True):
        args += [str(bucket.limit), str(bucket.period_ms), repr(float(amount))]
    return args


class AdmissionScripts:
    def __init__(self, redis: Redis, clock: Callable[[], float] | None = None) -> None:
        self.redis = redis
        # Tests pin the limiter clock (ms); by default the scripts read Redis TIME.
        self.clock = clock
        self._admit = WireScript(redis, ADMIT)
        self._settle = WireScript(redis, SETTLE)

    async def aclose(self) -> None:
        await self._admit.aclose()
        await self._settle.aclose()

    def _now(self) -> float:
        return self.clock() if self.clock else -1.0

    async def admit(
        self,
        buckets: Sequence[Bucket],
        budget: Budget | None,
        rid: str,
        intent: str,
        intent_expiry_ms: int,
    ) -> AdmitResult:
        keys = _script_keys(buckets, budget.user_id if budget else None)
        args = [repr(self._now()), *_bucket_args(buckets, [b.cost for b in buckets])]
        if budget is None:
            args += ["0", rid, "0", "0", "0", month_id()]
        else:
            args += [
                "1",
                budget.rid,
                str(budget.amount_nano),
                str(budget.now_ms),
                str(budget.ttl_ms),
                month_id(),
            ]
        args += [intent, str(intent_expiry_ms)]
        out = await self._admit(keys, args)
        state = int(out[0])
        if state == 0:
            retry = max(1, math.ceil(float(out[1]) / 1000))
            return AdmitResult("limited", retry, buckets[int(out[2]) - 1])
        if state == -1:
            return AdmitResult("needs_seed")
        if state == -2:
            return AdmitResult(
                "over_budget",
                spent_nano=int(out[1]),
                reserved_nano=int(out[2]),
                limit_nano=int(out[3]),
            )
        bstate = int(out[1])
        return AdmitResult(
            "ok",
            levels=tuple(float(x) for x in out[5:]),
            reserved=None if budget is None else bstate == 1,
            spent_nano=int(out[2]),
            reserved_nano=int(out[3]),
            limit_nano=int(out[4]),
        )

    def _settle_call(self, s: Settlement) -> tuple[list[str], list[str]]:
        keys = _script_keys(s.token_buckets, s.user_id)
        args = [
            repr(self._now()),
            *_bucket_args(s.token_buckets, [s.token_delta] * len(s.token_buckets)),
        ]
        args += ["1" if s.user_id else "0", s.rid, str(s.actual_nano)]
        return keys, args

    async def settle_many(self, items: Sequence[Settlement]) -> list[Settled]:
        """Every settle of a batch in one pipelined round trip."""
        if not items:
            return []
        replies = await self._settle.call_many([self._settle_call(item) for item in items])
        out = []
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
            state, spent, limit, alert = reply
            if int(state) == -1:
                out.append(Settled(needs_seed=True))
            elif int(state) == 0:
                out.append(Settled())  # no budget was asked for
            else:
                out.append(Settled(False, int(spent), int(limit), bool(int(alert))))
        return out
