"""Bounded per-model wait queues in front of full self-hosted instances (seed 000: priority
queuing before shedding).

Before the first attempt, a request whose (model, version) has every routable instance at its
concurrency limit waits here instead of being sent to an instance that would refuse it. A freed
slot goes to the waiter `routing.queueing.next_waiter` names (registered before demo, then the
key with the fewest tokens in flight): the releasing request resolves that waiter's future, so
nobody polls. A waiter leaves at its deadline (less the retry policy's margin) or at the
model's `queue.max_wait_s` with 503 and Retry-After; a full queue answers the same at once.

Slots are counted from this process's own in-flight figures (`SnapshotStore.local_in_flight`):
they are exact and every release is seen, where the heartbeat's figure lags by seconds. A
granted slot stays reserved (`_pending`) until its request acquires an instance, so a newcomer
cannot take the slot a woken waiter is about to use.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from router.dispatch.types import QueueClaim
from router.errors import ServiceUnavailable
from routing.catalog import Catalog, ModelSpec
from routing.instances import Instance
from routing.queueing import (
    PRIORITY_REGISTERED,
    Waiter,
    free_slots,
    has_room,
    instance_capacity,
    next_waiter,
    priority_of,
    retry_after_s,
)

MV = tuple[str, str]


class QueueRefused(ServiceUnavailable):
    """The model is full and this request cannot wait (queue full) or waited too long."""


def claim_for(caller: Any, estimated_tokens: int, max_tokens: int | None) -> QueueClaim:
    """The caller's queue class and fairness key: its key, else its user, else its IP."""
    if caller is None:
        return QueueClaim(PRIORITY_REGISTERED, "anonymous", estimated_tokens + (max_tokens or 0))
    ip = getattr(caller, "client_ip", None)
    key = (
        getattr(caller, "key_prefix", None)
        or getattr(caller, "user_id", None)
        or (f"ip:{ip}" if ip else "anonymous")
    )
    tokens = max(0, estimated_tokens) + max(0, max_tokens or 0)
    return QueueClaim(priority_of(getattr(caller, "tier", None)), key, tokens)


@dataclass(eq=False)
class Ticket:
    """One request's slot in a queued model, from grant to the end of its answer."""

    queues: ModelQueues
    mv: MV
    claim: QueueClaim
    settled: bool = False
    closed: bool = False
    # Granted after waiting in the queue (not at once).
    waited: bool = False

    def settle(self) -> None:
        """The request is about to acquire an instance: its reservation turns into in-flight."""
        if not self.settled:
            self.settled = True
            self.queues._pending[self.mv] -= 1

    def close(self) -> None:
        """The request ended (answered, failed or left): its tokens leave the key's count."""
        if self.closed:
            return
        was_pending = not self.settled
        self.settle()
        self.closed = True
        self.queues._untrack(self.claim)
        if was_pending:
            # A reservation never used frees its slot for the next waiter.
            self.queues._wake(self.mv)


@dataclass(eq=False)
class _Entry:
    waiter: Waiter
    claim: QueueClaim
    future: asyncio.Future[Ticket] = field(repr=False)


class ModelQueues:
    def __init__(
        self,
        store: Any,
        catalog: Callable[[], Catalog],
        metrics: Any = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._catalog = catalog
        self._metrics = metrics
        self._clock = clock
        self._waiting: dict[MV, list[_Entry]] = defaultdict(list)
        self._pending: dict[MV, int] = defaultdict(int)
        self._key_tokens: dict[str, int] = defaultdict(int)
        self._seq = 0
        self._groups: tuple[Any, dict[MV, list[Instance]]] | None = None

    # -- what others read ----------------------------------------------------------------------
    def depth(self, model: str) -> int:
        return sum(len(q) for (m, _), q in self._waiting.items() if m == model)

    def depths(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for (m, _), q in self._waiting.items():
            out[m] += len(q)
        return dict(out)

    def has_room(self, inst: Instance) -> bool:
        """May an attempt go to this instance now (below its concurrency limit)?"""
        spec = self._catalog().get(inst.model)
        default = spec.queue.max_concurrency if spec is not None else None
        return has_room(inst, default, self._store.local_in_flight(inst.instance_id))

    def release(self, instance_id: str) -> None:
        """The dispatcher's release hook: count the slot free, then hand it to a waiter."""
        self._store.release(instance_id)
        if not self._waiting:
            return
        inst = self._store.current().by_id.get(instance_id)
        if inst is not None:
            self._wake((inst.model, inst.version))

    # -- waiting -------------------------------------------------------------------------------
    async def enter(
        self, model: str, version: str, claim: QueueClaim, until: float
    ) -> Ticket | None:
        """A slot for this request, after waiting if the model is full; None when the model is
        not queued (unlimited instances, or none routable). `until` is the perf_counter time
        the wait must end by. Raises `QueueRefused` when it cannot wait or waited too long."""
        spec = self._catalog().get(model)
        if spec is None:
            return None
        mv = (model, version)
        free = self._free(spec, mv)
        if free is None:
            return None
        queue = self._waiting[mv]
        if free - self._pending[mv] > 0 and not queue:
            return self._grant(mv, claim)
        if len(queue) >= spec.queue.max_depth:
            raise self._refused(
                spec, mv, "queue_full", f"model '{model}' is at capacity and its queue is full"
            )
        wait_s = min(spec.queue.max_wait_s, until - time.perf_counter())
        if wait_s <= 0:
            raise self._refused(spec, mv, "queue_timeout", self._timeout_message(model))
        self._seq += 1
        entry = _Entry(
            Waiter(self._seq, claim.priority, claim.key, claim.tokens),
            claim,
            asyncio.get_running_loop().create_future(),
        )
        queue.append(entry)
        if self._metrics is not None:
            self._metrics.count("QueueDepth", float(len(queue)), model=model)
        try:
            await asyncio.wait({entry.future}, timeout=wait_s)
        except BaseException:
            self._leave(mv, entry)
            raise
        if entry.future.done():
            return entry.future.result()
        self._leave(mv, entry)
        raise self._refused(spec, mv, "queue_timeout", self._timeout_message(model))

    # -- inside --------------------------------------------------------------------------------
    def _free(self, spec: ModelSpec, mv: MV) -> int | None:
        mine = self._instances(mv)
        local = {i.instance_id: self._store.local_in_flight(i.instance_id) for i in mine}
        return free_slots(mine, spec.queue.max_concurrency, local, self._clock())

    def _instances(self, mv: MV) -> list[Instance]:
        # Grouped once per snapshot, not scanned per request.
        snap = self._store.current()
        cached = self._groups
        if cached is None or cached[0] is not snap:
            groups: dict[MV, list[Instance]] = defaultdict(list)
            for i in snap.instances:
                groups[(i.model, i.version)].append(i)
            cached = self._groups = (snap, dict(groups))
        return cached[1].get(mv, [])

    def _grant(self, mv: MV, claim: QueueClaim, waited: bool = False) -> Ticket:
        self._pending[mv] += 1
        self._key_tokens[claim.key] += claim.tokens
        return Ticket(self, mv, claim, waited=waited)

    def _untrack(self, claim: QueueClaim) -> None:
        left = self._key_tokens[claim.key] - claim.tokens
        if left <= 0:
            self._key_tokens.pop(claim.key, None)
        else:
            self._key_tokens[claim.key] = left

    def _wake(self, mv: MV) -> None:
        queue = self._waiting.get(mv)
        if not queue:
            return
        spec = self._catalog().get(mv[0])
        free = self._free(spec, mv) if spec is not None else None
        # An instance that lost its limit (or went away) frees everyone.
        available = len(queue) if free is None else free - self._pending[mv]
        while queue and available > 0:
            index = next_waiter([e.waiter for e in queue], self._key_tokens)
            entry = queue.pop(index)
            if entry.future.done():
                continue
            entry.future.set_result(self._grant(mv, entry.claim, waited=True))
            available -= 1
        if not queue:
            self._waiting.pop(mv, None)

    def _leave(self, mv: MV, entry: _Entry) -> None:
        queue = self._waiting.get(mv, [])
        if entry in queue:
            queue.remove(entry)
            if not queue:
                self._waiting.pop(mv, None)
        if entry.future.done() and not entry.future.cancelled():
            # Granted in the same moment it gave up: give the slot to the next one.
            entry.future.result().close()
        else:
            entry.future.cancel()

    def _timeout_message(self, model: str) -> str:
        return f"model '{model}' stayed at capacity for as long as this request could wait"

    def _refused(self, spec: ModelSpec, mv: MV, code: str, message: str) -> QueueRefused:
        mine = [i for i in self._instances(mv) if i.is_routable(self._clock())]
        capacity = sum(instance_capacity(i, spec.queue.max_concurrency) or 0 for i in mine)
        latencies = [i.latency_ewma_ms for i in self._store.with_local_load(tuple(mine))]
        known = [lat for lat in latencies if lat > 0]
        latency = sum(known) / len(known) if known else 0.0
        retry = retry_after_s(len(self._waiting.get(mv, ())), capacity, latency)
        if self._metrics is not None:
            self._metrics.count("QueueRejected", 1.0, model=mv[0], reason=code)
        return QueueRefused(message + "; retry later", code=code, retry_after=retry)


class NoQueue:
    """A dispatcher without queueing (unit tests, tools): every request goes at once."""

    def has_room(self, inst: Instance) -> bool:
        return True

    def depth(self, model: str) -> int:
        return 0

    def depths(self) -> dict[str, int]:
        return {}

    async def enter(self, model: str, version: str, claim: QueueClaim, until: float) -> None:
        return None
