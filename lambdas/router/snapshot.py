"""The router's in-memory view of the instances table.

The hot path never waits on DynamoDB except for the very first request of a cold process:
a stale snapshot is served while one background refresh runs (stale-while-revalidate), and
passive-health changes this process makes are overlaid at once, before DynamoDB has them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from registry.repository import InstanceRepository
from routing.instances import Instance

logger = logging.getLogger("motherfluxer.router")


@dataclass(frozen=True)
class Snapshot:
    instances: tuple[Instance, ...]
    config: dict[str, dict[str, Any]]
    loaded_at: float
    by_id: dict[str, Instance] = field(default_factory=dict)


class SnapshotStore:
    def __init__(
        self,
        repo: InstanceRepository,
        *,
        ttl_s: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._repo = repo
        self._ttl = ttl_s
        # Older than this, a snapshot is refreshed before use rather than in the background.
        self._max_stale = max(2.0, 2 * ttl_s)
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._refreshing: asyncio.Task[Snapshot] | None = None
        # Local overrides win until the table shows a newer revision of the same instance.
        self._overrides: dict[str, Instance] = {}
        self._in_flight: dict[str, int] = defaultdict(int)
        self._latency: dict[str, float] = {}
        # Retry-After cool-downs this process honours; kept apart from the overrides, which a
        # newer table revision (our own breaker write, a heartbeat) replaces within moments.
        self._cool_until: dict[str, float] = {}
        self.refresh_errors = 0

    @property
    def repo(self) -> InstanceRepository:
        return self._repo

    def current(self) -> Snapshot:
        """The latest snapshot without refreshing (callers already awaited `get` once)."""
        if self._snapshot is None:
            raise RuntimeError("snapshot not loaded yet")
        return self._snapshot

    async def get(self) -> Snapshot:
        snap = self._snapshot
        now = self._clock()
        if snap is None:
            return await self.refresh()
        age = now - snap.loaded_at
        if age >= self._max_stale:
            # After an idle spell (a Lambda thawed after minutes) the old heartbeats would all
            # look expired: one query now beats refusing a request over stale data.
            try:
                return await self.refresh()
            except Exception:
                self.refresh_errors += 1
                logger.warning("instance snapshot refresh failed; serving the previous one")
                return snap
        if age >= self._ttl and self._refreshing is None:
            self._refreshing = asyncio.create_task(self._refresh_quietly())
        return snap

    async def _refresh_quietly(self) -> Snapshot:
        try:
            return await self.refresh()
        except Exception:
            # Keep serving the last good snapshot; instance leases still expire in it.
            self.refresh_errors += 1
            logger.warning("instance snapshot refresh failed; serving the previous one")
            assert self._snapshot is not None
            return self._snapshot
        finally:
            self._refreshing = None

    async def refresh(self) -> Snapshot:
        instances, config = await asyncio.to_thread(self._load)
        stored = {i.instance_id: i for i in instances}
        for iid, override in list(self._overrides.items()):
            current = stored.get(iid)
            if current is None or current.rev > override.rev:
                del self._overrides[iid]
        merged = tuple(self._overrides.get(i.instance_id, i) for i in instances)
        snap = Snapshot(
            instances=merged,
            config=config,
            loaded_at=self._clock(),
            by_id={i.instance_id: i for i in merged},
        )
        self._snapshot = snap
        return snap

    def _load(self) -> tuple[list[Instance], dict[str, dict[str, Any]]]:
        return self._repo.list_instances(), self._repo.list_config()

    def override(self, inst: Instance) -> None:
        """Apply a state change this process made, ahead of the table."""
        self._overrides[inst.instance_id] = inst
        snap = self._snapshot
        if snap is None:
            return
        instances = tuple(inst if i.instance_id == inst.instance_id else i for i in snap.instances)
        self._snapshot = replace(
            snap, instances=instances, by_id={i.instance_id: i for i in instances}
        )

    def forget(self, instance_id: str) -> None:
        self._overrides.pop(instance_id, None)
        self._cool_until.pop(instance_id, None)
        snap = self._snapshot
        if snap is None:
            return
        instances = tuple(i for i in snap.instances if i.instance_id != instance_id)
        self._snapshot = replace(
            snap, instances=instances, by_id={i.instance_id: i for i in instances}
        )

    # -- local load, for least-outstanding style strategies ------------------------------------
    def acquire(self, instance_id: str) -> None:
        self._in_flight[instance_id] += 1

    def release(self, instance_id: str) -> None:
        left = self._in_flight[instance_id] - 1
        if left <= 0:
            self._in_flight.pop(instance_id, None)
        else:
            self._in_flight[instance_id] = left

    def cool_down(self, instance_id: str, until: float) -> None:
        """Keep this process away from an instance until `until` (an upstream Retry-After)."""
        if until > self._cool_until.get(instance_id, 0.0):
            self._cool_until[instance_id] = until

    def local_in_flight(self, instance_id: str) -> int:
        return self._in_flight.get(instance_id, 0)

    def observe_latency(self, instance_id: str, latency_ms: float, alpha: float) -> None:
        old = self._latency.get(instance_id)
        self._latency[instance_id] = latency_ms if old is None else old + alpha * (latency_ms - old)

    def with_local_load(self, instances: tuple[Instance, ...]) -> tuple[Instance, ...]:
        """Overlay what this process measures itself: in-flight counts and latency averages.

        The heartbeat's in-flight figure lags, and latency is only known to the caller, so
        these never go through DynamoDB (a write per request would cost more than it tells).
        """
        if self._cool_until:
            now = self._clock()
            self._cool_until = {k: v for k, v in self._cool_until.items() if v > now}
        if not self._in_flight and not self._latency and not self._cool_until:
            return instances
        out = []
        for i in instances:
            iid = i.instance_id
            local = self._in_flight.get(iid, 0)
            lat = self._latency.get(iid)
            cool = self._cool_until.get(iid, 0.0)
            if local > i.in_flight or lat is not None or cool > i.ejected_until:
                i = i.with_local_load(
                    max(i.in_flight, local),
                    lat if lat is not None else i.latency_ewma_ms,
                    max(i.ejected_until, cool),
                )
            out.append(i)
        return tuple(out)
