"""Passive health and the retry governor, as the dispatcher sees them.

Each process keeps the bookkeeping that must be local (its probes in flight, its retry budget,
its latency averages) and hands breaker transitions to the pure `routing.breaker`. A transition
is applied to this process's snapshot at once and written to DynamoDB in the background with a
conditional update on `rev`; a lost race re-reads the item and re-applies the same event, so
every router process converges on one breaker state per instance.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

from registry.repository import ConcurrentUpdate, InstanceNotFound
from router.snapshot import SnapshotStore
from routing import breaker, outlier, retry
from routing.breaker import HealthState
from routing.instances import Instance
from routing.outcome import Outcome
from routing.outlier import DEFAULT_POLICY, OutlierPolicy
from routing.retry import (
    AttemptRecord,
    AvailableInstances,
    BudgetPolicy,
    RequestRetries,
    Retry,
    RetryBudget,
    RetryPolicy,
    Stop,
)

logger = logging.getLogger("motherfluxer.router")

# Weight of the newest sample in the latency average (about the last 10 requests count).
EWMA_ALPHA = 0.2


class BreakerHealth:
    def __init__(
        self,
        store: SnapshotStore,
        *,
        policy: OutlierPolicy = DEFAULT_POLICY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._probes: dict[str, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.writes_lost = 0

    def _latest(self, inst: Instance) -> Instance:
        try:
            return self._store.current().by_id.get(inst.instance_id, inst)
        except RuntimeError:
            return inst

    def _pool(self, inst: Instance) -> list[Instance]:
        snap = self._store.current()
        return [i for i in snap.instances if i.model == inst.model and i.version == inst.version]

    # -- the dispatcher's interface -----------------------------------------------------------
    def admit(self, instance: Instance) -> float | None:
        now = self._clock()
        current = self._latest(instance)
        decision = breaker.admit(
            HealthState.of(current), now, self._probes.get(current.instance_id, 0), self._policy
        )
        if not decision.allowed:
            return None
        if not decision.is_probe:
            return 0.0
        self._probes[current.instance_id] = self._probes.get(current.instance_id, 0) + 1
        if decision.claim is not None:
            claimed = decision.claim.applied_to(current)
            self._store.override(claimed)
            self._persist(
                current.instance_id, lambda stored: _claim(stored, self._clock(), self._policy)
            )
        return decision.probe_timeout or self._policy.probe_timeout_s

    def record(self, instance: Instance, outcome: Outcome | str, latency_ms: float) -> None:
        event = Outcome(outcome)
        iid = instance.instance_id
        if self._probes.get(iid):
            self._probes[iid] -= 1
            if not self._probes[iid]:
                del self._probes[iid]
        if event is Outcome.ok and latency_ms > 0:
            self._store.observe_latency(iid, latency_ms, EWMA_ALPHA)
        now = self._clock()
        current = self._latest(instance)
        before = HealthState.of(current)
        after = breaker.record_result(
            before, event, now, self._policy, may_eject=self._may_eject(current, now)
        )
        if after == before:
            return
        self._store.override(after.applied_to(current))
        if (
            after.breaker_state != before.breaker_state
            or after.ejection_count != before.ejection_count
        ):
            logger.warning(
                "breaker %s -> %s for %s (ejection %d)",
                before.breaker_state,
                after.breaker_state,
                iid,
                after.ejection_count,
            )
        self._persist(iid, lambda stored: self._reapply(stored, event))

    def cool_down(self, instance: Instance, seconds: float) -> None:
        # An upstream Retry-After: stay away from that instance for that long (this process).
        seconds = min(seconds, self._policy.max_ejection_s)
        # Held by the store as a local overlay: an override here would be replaced by the
        # very breaker write this failure triggers, ending the cool-down within milliseconds.
        self._store.cool_down(instance.instance_id, self._clock() + seconds)

    # -- shared state --------------------------------------------------------------------------
    def _may_eject(self, inst: Instance, now: float) -> bool:
        try:
            return outlier.may_eject(inst.instance_id, self._pool(inst), now, self._policy)
        except RuntimeError:
            return True

    def _reapply(self, stored: Instance, event: Outcome) -> Instance:
        now = self._clock()
        state = breaker.record_result(
            HealthState.of(stored), event, now, self._policy, may_eject=self._may_eject(stored, now)
        )
        return state.applied_to(stored)

    def _persist(self, instance_id: str, change: Callable[[Instance], Instance | None]) -> None:
        repo = self._store.repo

        async def write() -> None:
            try:
                stored = await asyncio.to_thread(repo.apply, instance_id, change)
            except InstanceNotFound:
                self._store.forget(instance_id)
                return
            except ConcurrentUpdate:
                self.writes_lost += 1
                return
            except Exception:
                self.writes_lost += 1
                logger.warning("could not persist breaker state for %s", instance_id)
                return
            self._store.override(stored)

        try:
            task = asyncio.get_running_loop().create_task(write())
        except RuntimeError:
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for pending state writes (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _claim(stored: Instance, now: float, policy: OutlierPolicy) -> Instance | None:
    decision = breaker.admit(HealthState.of(stored), now, 0, policy)
    if decision.claim is None:
        return None
    return decision.claim.applied_to(stored)


# The router never sends one request to the same instance twice: the instance that just failed
# is the least likely to answer at once, and another copy or the fallback usually exists.
ROUTER_RETRY_POLICY = RetryPolicy(retry_same_instance=False)


class BudgetedRetries:
    """The process's retry budget and randomness, feeding the pure `routing.retry.decide`."""

    def __init__(
        self,
        *,
        budget: BudgetPolicy = BudgetPolicy(),
        policy: RetryPolicy = ROUTER_RETRY_POLICY,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.budget = RetryBudget(budget)
        self.policy = policy
        self._rng = rng or random.Random()
        self._clock = clock

    def now(self) -> float:
        """The clock request deadlines are measured on (`time.perf_counter` by default)."""
        return self._clock()

    def begin(self) -> None:
        self.budget.request_started(self._clock())

    def end(self) -> None:
        self.budget.request_finished()

    def decide(
        self, request: RequestRetries, last: AttemptRecord, available: AvailableInstances
    ) -> Retry | Stop:
        # A Retry has reserved one retry from the budget: `retry_done` gives it back.
        return retry.decide(
            request, last, self._clock(), self._rng, available, self.budget, self.policy
        )

    def retry_done(self, succeeded: bool = False) -> None:
        self.budget.release()
        if succeeded:
            self.budget.refund()
