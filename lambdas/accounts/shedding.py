"""Per-process overload gate: demo traffic is shed first so registered users keep their latency.

Each tier may start a request only while this process has fewer than its threshold in flight.
Demo's threshold is the lower one, so as load climbs demo requests get 429 + Retry-After while
registered requests still pass up to their higher threshold. Admin requests are never shed.
"""

from __future__ import annotations

import threading

from accounts.errors import Overloaded
from accounts.tiers import Tier


class ConcurrencyGate:
    def __init__(
        self, demo_max: int = 16, registered_max: int = 64, retry_after_s: int = 1
    ) -> None:
        if demo_max > registered_max:
            raise ValueError(
                "demo must be shed before registered traffic (demo_max <= registered_max)"
            )
        self.thresholds: dict[Tier, int | None] = {
            "demo": demo_max,
            "registered": registered_max,
            "admin": None,
        }
        self.retry_after_s = retry_after_s
        self.in_flight = 0
        self._lock = threading.Lock()

    def enter(self, tier: Tier) -> None:
        """Count one request in, or raise Overloaded if this tier is over its threshold."""
        with self._lock:
            limit = self.thresholds[tier]
            if limit is not None and self.in_flight >= limit:
                raise Overloaded(
                    "The service is busy; please retry shortly.", retry_after=self.retry_after_s
                )
            self.in_flight += 1

    def leave(self) -> None:
        with self._lock:
            self.in_flight = max(0, self.in_flight - 1)
