"""The per-process retry budget: how many retries the router may have going, and how many per
window, so that retries never multiply load on a failing fleet (Envoy's rule, plus a volume
limit). Pure: the clock arrives as `now`."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Two limits, both must allow a retry.

    Concurrency (Envoy's semantics): retries in flight < max(min_concurrent, ratio x active).
    Volume: within each fixed window, retries <= max(min_per_window, ratio x requests that
    arrived in that window). The volume limit is what keeps total upstream attempts at or below
    (1 + ratio) x requests when everything fails, in any window that saw at least
    min_per_window / ratio requests.
    """

    ratio: float = 0.2
    min_concurrent: int = 3
    min_per_window: int = 3
    window_s: float = 10.0


class RetryBudget:
    """Per-process retry budget. Not thread-safe: use one per event loop.

    Call `request_started` when a client request arrives and `request_finished` when it ends;
    call `try_acquire` before each retry and `release` when that retry attempt ends.
    """

    def __init__(self, policy: BudgetPolicy = BudgetPolicy()) -> None:
        self.policy = policy
        self.active_requests = 0
        self.retries_in_flight = 0
        self._window_start = -math.inf
        self._window_requests = 0
        self._window_retries = 0
        self.denied = 0

    def _roll(self, now: float) -> None:
        if now - self._window_start >= self.policy.window_s:
            # Windows are aligned to multiples of window_s so every process agrees on them.
            self._window_start = math.floor(now / self.policy.window_s) * self.policy.window_s
            self._window_requests = 0
            self._window_retries = 0

    def request_started(self, now: float) -> None:
        self._roll(now)
        self.active_requests += 1
        self._window_requests += 1

    def request_finished(self) -> None:
        self.active_requests = max(0, self.active_requests - 1)

    def concurrency_limit(self) -> float:
        return max(self.policy.min_concurrent, self.policy.ratio * self.active_requests)

    def volume_limit(self) -> float:
        return max(self.policy.min_per_window, self.policy.ratio * self._window_requests)

    def try_acquire(self, now: float) -> bool:
        """Reserve one retry if both limits allow it."""
        self._roll(now)
        if self.retries_in_flight + 1 > self.concurrency_limit():
            self.denied += 1
            return False
        if self._window_retries + 1 > self.volume_limit():
            self.denied += 1
            return False
        self.retries_in_flight += 1
        self._window_retries += 1
        return True

    def release(self) -> None:
        self.retries_in_flight = max(0, self.retries_in_flight - 1)

    def refund(self) -> None:
        """Give back the window share of a retry that succeeded.

        The budget exists to bound wasted load; a retry that another instance answered was
        not wasted, and charging it would turn away failover while a single bad instance is
        still being ejected. At 100 % failure no retry succeeds, so the bound still holds.
        """
        self._window_retries = max(0, self._window_retries - 1)
