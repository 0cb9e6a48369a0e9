"""The real state of the accounts layer's dependencies, for `GET /health`."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

PROBE_TIMEOUT_S = 1.0
# A load balancer polls every few seconds; answering from a fresh probe at most this often
# keeps health checks off the database's back.
CACHE_S = 2.0


class ComponentHealth:
    def __init__(self, engine: AsyncEngine, redis: Redis) -> None:
        self.engine = engine
        self.redis = redis
        self._cached: tuple[float, dict[str, str]] | None = None

    async def _postgres(self) -> str:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                async with self.engine.connect() as conn:
                    await conn.execute(sa.text("SELECT 1"))
            return "ok"
        except Exception:
            return "down"

    async def _redis(self) -> str:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                await self.redis.ping()
            return "ok"
        except Exception:
            return "down"

    async def states(self) -> dict[str, str]:
        """`{"postgres": "ok"|"down", "redis": "ok"|"down"}`, probed at most every 2 s."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < CACHE_S:
            return self._cached[1]
        postgres, redis = await asyncio.gather(self._postgres(), self._redis())
        states = {"postgres": postgres, "redis": redis}
        self._cached = (now, states)
        return states
