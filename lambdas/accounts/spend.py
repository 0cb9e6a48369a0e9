"""Budget reservations for the hot path: Redis when it answers, a per-process twin when not."""

from __future__ import annotations

from decimal import Decimal

from redis.asyncio import Redis
from sqlalchemy.exc import SQLAlchemyError

from accounts.budgets import (
    NO_BUDGET,
    LocalBudgets,
    RedisBudgets,
    Reservation,
    ReserveResult,
    SettleResult,
)
from accounts.errors import BudgetExceeded, BudgetUnavailable
from accounts.pricing import from_nano, to_nano
from accounts.redis_guard import REDIS_DOWN, RedisGuard
from accounts.store import AccountsStore


class SpendGuard:
    def __init__(
        self, store: AccountsStore, redis: Redis, guard: RedisGuard, reservation_ttl_s: float
    ) -> None:
        self.store = store
        self.guard = guard
        self.budgets = RedisBudgets(redis, reservation_ttl_s)
        self.local_budgets = LocalBudgets()

    async def reserve(self, user_id: str, rid: str, cost: Decimal) -> Reservation | None:
        """Book `cost` against the user's budget; None when the user has no budget.

        Raises BudgetExceeded when the budget cannot hold it.
        """
        amount = to_nano(cost)
        result: ReserveResult | None = None
        if self.guard.usable():
            try:
                result = await self.budgets.reserve(user_id, rid, amount)
                if result.needs_seed:
                    await self.seed(user_id)
                    result = await self.budgets.reserve(user_id, rid, amount)
            except REDIS_DOWN as exc:
                self.guard.failed(exc, "budget reservation")
                result = None
        local = result is None
        if result is None:
            result = await self._reserve_local(user_id, rid, amount)
        if not result.ok:
            raise budget_exceeded(cost, result.limit_nano, result.spent_nano, result.reserved_nano)
        if result.limit_nano == NO_BUDGET:
            return None
        return Reservation(user_id, rid, amount, local)

    async def _budget_from_db(self, user_id: str) -> tuple[int, str, int]:
        try:
            seed = await self.store.budget_seed(user_id)
        except (SQLAlchemyError, OSError):
            # Fail closed: without the durable spend the headroom is unknown.
            raise BudgetUnavailable(
                "Budgets are temporarily unavailable; please retry.", retry_after=5
            ) from None
        if seed is None:
            return NO_BUDGET, "total", 0
        limit, period, spent = seed
        return to_nano(limit), period, to_nano(spent)

    async def seed(self, user_id: str) -> None:
        """Load the user's budget and durable spend from Postgres into Redis."""
        limit, period, spent = await self._budget_from_db(user_id)
        await self.budgets.seed(user_id, limit, period, spent)

    async def _reserve_local(self, user_id: str, rid: str, amount: int) -> ReserveResult:
        if not self.local_budgets.has(user_id):
            limit, _, spent = await self._budget_from_db(user_id)
            self.local_budgets.seed(user_id, limit, spent)
        return self.local_budgets.reserve(user_id, rid, amount)

    async def settle(self, reservation: Reservation, actual_nano: int) -> SettleResult:
        if reservation.local:
            return self.local_budgets.settle(reservation, actual_nano)
        if not self.guard.usable():
            return SettleResult()
        try:
            return await self.budgets.settle(reservation, actual_nano)
        except REDIS_DOWN as exc:
            # The reservation expires on its own; the ledger keeps the durable spend.
            self.guard.failed(exc, "budget settle")
            return SettleResult()


def budget_exceeded(
    cost: Decimal, limit_nano: int, spent_nano: int, reserved_nano: int
) -> BudgetExceeded:
    remaining = from_nano(max(0, limit_nano - spent_nano - reserved_nano))
    return BudgetExceeded(
        f"Budget exhausted: this request may cost up to ${cost}, "
        f"${remaining} of the ${from_nano(limit_nano)} budget is left."
    )
