"""Requests- and tokens-per-minute limits as a leaky-bucket meter (the GCRA family).

Every check is ONE Lua script over all the buckets that apply (key, user or IP, tier): the script
leaks each bucket by the time elapsed, and either adds the cost to all of them or to none. Redis
runs scripts one at a time, so two routers racing for the last slot cannot both get it, and the
limit holds across any number of router processes. Bucket levels stay small numbers (at most the
limit) and are stored with 17 significant digits, so the N-th request passes and the N+1-th fails
exactly; the clock is Redis' own `TIME`, so router clocks do not need to agree.

When Redis is unreachable `InMemoryLimiter` applies the same arithmetic per process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from accounts.errors import RateLimited

# The script fragments below are shared with `accounts.admission_script`, which runs the limits
# and the budget reservation as one script. They read the bucket count `nb` and the ARGV offset
# `a0` (bucket i's limit, period and amount are ARGV[a0 + 1..3 + (i - 1) * 3]).
NOW = """
local now = tonumber(ARGV[1])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""

# Leak every bucket by the time elapsed; the worst overflow names the failing bucket.
LEAK = """
local levels = {}
local worst, failing = 0, 0
for i = 1, nb do
  local limit = tonumber(ARGV[a0 + 1 + (i - 1) * 3])
  local period = tonumber(ARGV[a0 + 2 + (i - 1) * 3])
  local cost = math.min(tonumber(ARGV[a0 + 3 + (i - 1) * 3]), limit)
  local state = redis.call('HMGET', KEYS[i], 'level', 'ts')
  local level = tonumber(state[1]) or 0
  local ts = tonumber(state[2]) or now
  if now > ts then level = math.max(0, level - (now - ts) * limit / period) end
  local over = level + cost - limit
  if over > 1e-9 then
    local wait = over * period / limit
    if wait > worst then worst, failing = wait, i end
  end
  levels[i] = level + cost
end
"""

APPLY = """
for i = 1, nb do
  local limit = tonumber(ARGV[a0 + 1 + (i - 1) * 3])
  local period = tonumber(ARGV[a0 + 2 + (i - 1) * 3])
  redis.call('HSET', KEYS[i], 'level', string.format('%.17g', levels[i]), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(levels[i] * period / limit) + 1000)
end
"""

# Charge (delta > 0) or refund (delta < 0) tokens after the response, e.g. reserved 1,064
# tokens at admission but only 230 were used.
ADJUST = """
for i = 1, nb do
  local limit = tonumber(ARGV[a0 + 1 + (i - 1) * 3])
  local period = tonumber(ARGV[a0 + 2 + (i - 1) * 3])
  local delta = tonumber(ARGV[a0 + 3 + (i - 1) * 3])
  local state = redis.call('HMGET', KEYS[i], 'level', 'ts')
  local level = tonumber(state[1]) or 0
  local ts = tonumber(state[2]) or now
  if now > ts then level = math.max(0, level - (now - ts) * limit / period) end
  level = math.max(0, level + delta)
  redis.call('HSET', KEYS[i], 'level', string.format('%.17g', level), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(level * period / limit) + 1000)
end
"""

_CHECK = (
    NOW
    + "local nb, a0 = #KEYS, 1\n"
    + LEAK
    + "if failing > 0 then return {0, tostring(math.ceil(worst)), failing} end\n"
    + APPLY
    + """
local out = {1, '0', 0}
for i = 1, #KEYS do out[3 + i] = string.format('%.17g', levels[i]) end
return out
"""
)

_ADJUST = NOW + "local nb, a0 = #KEYS, 1\n" + ADJUST + "return 1\n"


@dataclass(frozen=True, slots=True)
class Bucket:
    """One limit: `limit` units per `period_ms`; `cost` units asked for by this request."""

    key: str
    limit: int
    cost: float
    period_ms: int = 60_000
    label: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    retry_after_s: int = 0
    failed: Bucket | None = None
    # Each bucket's level after an allowed request (for the x-ratelimit-* headers).
    levels: tuple[float, ...] = ()


def _flatten(now_ms: float, buckets: Sequence[Bucket], amounts: Sequence[float]) -> list[str]:
    args = [repr(now_ms)]
    for b, amount in zip(buckets, amounts, strict=True):
        args += [str(b.limit), str(b.period_ms), repr(float(amount))]
    return args


class RedisLimiter:
    """The shared limiter. `clock` (ms) is for tests; by default the script reads Redis TIME."""

    def __init__(self, redis: Redis, clock: Callable[[], float] | None = None) -> None:
        self.redis = redis
        self.clock = clock
        self._check = redis.register_script(_CHECK)
        self._adjust = redis.register_script(_ADJUST)

    def _now(self) -> float:
        return self.clock() if self.clock else -1.0

    async def check(self, buckets: Sequence[Bucket]) -> Verdict:
        if not buckets:
            return Verdict(True)
        keys = [b.key for b in buckets]
        allowed, retry_ms, failing, *levels = await self._check(
            keys=keys, args=_flatten(self._now(), buckets, [b.cost for b in buckets])
        )
        if int(allowed) == 1:
            return Verdict(True, levels=tuple(float(x) for x in levels))
        return Verdict(False, max(1, math.ceil(float(retry_ms) / 1000)), buckets[int(failing) - 1])

    async def adjust(self, buckets: Sequence[Bucket], delta: float) -> None:
        if not buckets or delta == 0:
            return
        await self._adjust(
            keys=[b.key for b in buckets],
            args=_flatten(self._now(), buckets, [delta] * len(buckets)),
        )


class InMemoryLimiter:
    """Per-process twin of `RedisLimiter`, used for registered callers while Redis is down.

    Each process enforces the full limit on its own, so the effective limit is multiplied by the
    number of router processes for as long as the outage lasts.
    """

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or (lambda: time.time() * 1000)
        self._levels: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def _level(self, b: Bucket, now: float) -> float:
        level, ts = self._levels.get(b.key, (0.0, now))
        if now > ts:
            level = max(0.0, level - (now - ts) * b.limit / b.period_ms)
        return level

    async def check(self, buckets: Sequence[Bucket]) -> Verdict:
        with self._lock:
            now = self.clock()
            worst, failing = 0.0, None
            levels = []
            for b in buckets:
                cost = min(b.cost, b.limit)
                level = self._level(b, now)
                over = level + cost - b.limit
                if over > 1e-9 and over * b.period_ms / b.limit > worst:
                    worst, failing = over * b.period_ms / b.limit, b
                levels.append(level + cost)
            if failing is not None:
                return Verdict(False, max(1, math.ceil(worst / 1000)), failing)
            for b, level in zip(buckets, levels, strict=True):
                self._levels[b.key] = (level, now)
            return Verdict(True, levels=tuple(levels))

    async def adjust(self, buckets: Sequence[Bucket], delta: float) -> None:
        with self._lock:
            now = self.clock()
            for b in buckets:
                self._levels[b.key] = (max(0.0, self._level(b, now) + delta), now)


def rate_limited(failed: Bucket | None, retry_after_s: int) -> RateLimited:
    """The 429 for a refused check: which limit, and when to come back."""
    label = failed.label if failed else "rate"
    return RateLimited(
        f"Rate limit exceeded ({label}); retry after {retry_after_s} s.",
        retry_after=retry_after_s,
    )
