"""Spend budgets: reserve the largest possible cost before calling a model, settle to the real one.

Amounts are integer nano-dollars in Redis so sums are exact. `reserve` is one Lua script that
checks `spent + reserved + amount <= limit` and books the reservation in the same step, so 100
concurrent requests cannot all see the same headroom. A reservation carries an expiry: if a
router dies between reserve and settle, the next reserve on that budget releases it.

Postgres holds the durable spend (the usage drainer adds each ledger row's cost). When the Redis
state is missing (new budget, eviction, restart) the service seeds it from Postgres and retries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

# Fragments shared with `accounts.admission_script`. They read the keys `bk` (budget hash), `rk`
# (reservation amounts) and `ek` (reservation expiries), and the values `rid`, `amount`, `bnow`
# (ms), `ttl` (ms) and `month`.
# budget_check() -> state, spent, reserved, limit; state -1 = not seeded, 2 = no budget,
# 0 = cannot hold `amount`, 1 = can. budget_book() then books it.
BUDGET_FUNCTIONS = """
local function budget_check()
  if redis.call('EXISTS', bk) == 0 then return -1, 0, 0, 0 end
  local limit = tonumber(redis.call('HGET', bk, 'limit'))
  if limit < 0 then return 2, 0, 0, -1 end
  local period = redis.call('HGET', bk, 'period')
  if period ~= 'total' and period ~= month then
    redis.call('HSET', bk, 'period', month, 'spent', 0)
    redis.call('HDEL', bk, 'alert80')
  end
  local expired = redis.call('ZRANGEBYSCORE', ek, '-inf', bnow)
  for _, old in ipairs(expired) do
    local held = tonumber(redis.call('HGET', rk, old) or '0')
    redis.call('HINCRBY', bk, 'reserved', -held)
    redis.call('HDEL', rk, old)
    redis.call('ZREM', ek, old)
  end
  local spent = tonumber(redis.call('HGET', bk, 'spent') or '0')
  local reserved = tonumber(redis.call('HGET', bk, 'reserved') or '0')
  if spent + reserved + amount > limit then return 0, spent, reserved, limit end
  return 1, spent, reserved, limit
end
local function budget_book()
  redis.call('HINCRBY', bk, 'reserved', amount)
  redis.call('HSET', rk, rid, amount)
  redis.call('ZADD', ek, bnow + ttl, rid)
end
"""

# Release reservation `rid` and add `actual` to the spend: -> state, spent, limit, alert80-now.
SETTLE_FUNCTION = """
local function budget_settle(actual)
  local held = redis.call('HGET', rk, rid)
  if held then
    redis.call('HINCRBY', bk, 'reserved', -tonumber(held))
    redis.call('HDEL', rk, rid)
    redis.call('ZREM', ek, rid)
  end
  if redis.call('EXISTS', bk) == 0 then return -1, 0, 0, 0 end
  local limit = tonumber(redis.call('HGET', bk, 'limit'))
  if limit < 0 then return 1, 0, -1, 0 end
  local spent = redis.call('HINCRBY', bk, 'spent', actual)
  local alert = 0
  if spent * 5 >= limit * 4 and redis.call('HSETNX', bk, 'alert80', 1) == 1 then alert = 1 end
  return 1, spent, limit, alert
end
"""

# KEYS: budget hash, reservation amounts hash, reservation expiry zset
# ARGV: reservation id, amount (nano-USD), now (ms), reservation ttl (ms), current month id
_RESERVE = (
    """
local bk, rk, ek = KEYS[1], KEYS[2], KEYS[3]
local rid, amount, bnow, ttl, month = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5]
"""
    + BUDGET_FUNCTIONS
    + """
local state, spent, reserved, limit = budget_check()
if state == -1 then return {-1, 0, 0, 0} end
if state == 2 then return {1, 0, 0, -1} end
if state == 0 then return {0, spent, reserved, limit} end
budget_book()
return {1, spent, reserved + amount, limit}
"""
)

# ARGV: reservation id, actual cost (nano-USD). Returns {state, spent, limit, alert80-now}
_SETTLE = (
    "local bk, rk, ek, rid = KEYS[1], KEYS[2], KEYS[3], ARGV[1]\n"
    + SETTLE_FUNCTION
    + """
local state, spent, limit, alert = budget_settle(tonumber(ARGV[2]))
return {state, spent, limit, alert}
"""
)

# Writes the seed only if nobody else did meanwhile. ARGV: limit, period, spent, ttl (s, 0 = none)
_SEED = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'limit', ARGV[1], 'period', ARGV[2], 'spent', ARGV[3], 'reserved', 0)
if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
"""

NO_BUDGET = -1
# A "this user has no budget" marker is re-read from Postgres this often, so a budget set by an
# admin through another router reaches this one quickly even if that router's write was lost.
NO_BUDGET_TTL_S = 60


_month: tuple[int, str] = (-1, "")


def month_id(now: datetime | None = None) -> str:
    global _month
    if now is not None:
        return now.strftime("%Y-%m")
    # Asked on every admission: formatted once a minute.
    minute = int(time.time() // 60)
    if _month[0] != minute:
        _month = (minute, datetime.now(UTC).strftime("%Y-%m"))
    return _month[1]


@dataclass(frozen=True, slots=True)
class Reservation:
    user_id: str
    reservation_id: str
    amount_nano: int
    local: bool = False


@dataclass(frozen=True, slots=True)
class ReserveResult:
    ok: bool
    needs_seed: bool = False
    spent_nano: int = 0
    reserved_nano: int = 0
    limit_nano: int = NO_BUDGET


@dataclass(frozen=True, slots=True)
class SettleResult:
    spent_nano: int = 0
    limit_nano: int = NO_BUDGET
    alert_80: bool = False
    needs_seed: bool = False


def _keys(user_id: str) -> list[str]:
    base = f"mf:budget:{{{user_id}}}"  # hash tag keeps all three on one cluster slot
    return [base, base + ":res", base + ":exp"]


class RedisBudgets:
    def __init__(
        self,
        redis: Redis,
        reservation_ttl_s: float = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.reservation_ttl_ms = int(reservation_ttl_s * 1000)
        self.clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._seed = redis.register_script(_SEED)

    async def reserve(self, user_id: str, reservation_id: str, amount_nano: int) -> ReserveResult:
        state, spent, reserved, limit = await self._reserve(
            keys=_keys(user_id),
            args=[
                reservation_id,
                amount_nano,
                int(self.clock() * 1000),
                self.reservation_ttl_ms,
                month_id(),
            ],
        )
        state = int(state)
        if state == -1:
            return ReserveResult(False, needs_seed=True)
        return ReserveResult(state == 1, False, int(spent), int(reserved), int(limit))

    async def settle(self, reservation: Reservation, actual_nano: int) -> SettleResult:
        state, spent, limit, alert = await self._settle(
            keys=_keys(reservation.user_id), args=[reservation.reservation_id, actual_nano]
        )
        if int(state) == -1:
            return SettleResult(needs_seed=True)
        return SettleResult(int(spent), int(limit), bool(int(alert)))

    async def seed(self, user_id: str, limit_nano: int, period: str, spent_nano: int) -> None:
        ttl = NO_BUDGET_TTL_S if limit_nano == NO_BUDGET else 0
        stored_period = "total" if period == "total" else month_id()
        await self._seed(keys=_keys(user_id)[:1], args=[limit_nano, stored_period, spent_nano, ttl])

    async def set_limit(self, user_id: str, limit_nano: int, period: str) -> None:
        """An admin changed the budget: new limit in place, spend and reservations kept."""
        key = _keys(user_id)[0]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"limit": limit_nano})
            pipe.persist(key)
            pipe.hdel(key, "alert80")
            await pipe.execute()
        if period == "total":
            await self.redis.hset(key, "period", "total")
        elif await self.redis.hget(key, "period") in (b"total", "total", None):
            await self.redis.hset(key, "period", month_id())

    async def forget(self, user_id: str) -> None:
        await self.redis.delete(_keys(user_id)[0])


class LocalBudgets:
    """Per-process budgets used while Redis is down, seeded from Postgres on first use.

    Each process can spend the remaining headroom on its own, so during an outage the overshoot
    is bounded by (processes - 1) x the headroom at the time Redis went away.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, dict[str, int]] = {}
        self._reservations: dict[str, int] = {}

    def has(self, user_id: str) -> bool:
        return user_id in self._state

    def seed(self, user_id: str, limit_nano: int, spent_nano: int) -> None:
        with self._lock:
            self._state.setdefault(
                user_id, {"limit": limit_nano, "spent": spent_nano, "reserved": 0, "alert": 0}
            )

    def reserve(self, user_id: str, reservation_id: str, amount_nano: int) -> ReserveResult:
        with self._lock:
            s = self._state[user_id]
            if s["limit"] == NO_BUDGET:
                return ReserveResult(True, limit_nano=NO_BUDGET)
            if s["spent"] + s["reserved"] + amount_nano > s["limit"]:
                return ReserveResult(False, False, s["spent"], s["reserved"], s["limit"])
            s["reserved"] += amount_nano
            self._reservations[reservation_id] = amount_nano
            return ReserveResult(True, False, s["spent"], s["reserved"], s["limit"])

    def settle(self, reservation: Reservation, actual_nano: int) -> SettleResult:
        with self._lock:
            s = self._state.get(reservation.user_id)
            amount = self._reservations.pop(reservation.reservation_id, 0)
            if s is None:
                return SettleResult()
            s["reserved"] -= amount
            if s["limit"] == NO_BUDGET:
                return SettleResult()
            s["spent"] += actual_nano
            alert = s["spent"] * 5 >= s["limit"] * 4 and not s["alert"]
            if alert:
                s["alert"] = 1
            return SettleResult(s["spent"], s["limit"], alert)

    def clear(self) -> None:
        with self._lock:
            self._state.clear()
            self._reservations.clear()
