"""Skip Redis for a moment after it failed, instead of paying a timeout on every request."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# What an unreachable or paused Redis raises through redis.asyncio.
REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)


class RedisGuard:
    def __init__(self, backoff_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.backoff_s = backoff_s
        self._clock = clock
        self._down_until = 0.0
        self.last_error: str | None = None

    def usable(self) -> bool:
        return self._clock() >= self._down_until

    def failed(self, exc: BaseException, what: str) -> None:
        self._down_until = self._clock() + self.backoff_s
        self.last_error = type(exc).__name__
        log.warning("%s: Redis unavailable (%s)", what, type(exc).__name__)

    def succeeded(self) -> None:
        self.last_error = None
