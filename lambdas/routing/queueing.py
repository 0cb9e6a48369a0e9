"""Priority queueing before shedding: who waits, who goes next, and when a model is full.

Pure policy for `router.dispatch.queue`, which does the waiting. A self-hosted model's
instances each take at most `max_concurrency` requests at once (an instance's own
`max_concurrency` tag, else the catalog's `queue.max_concurrency`); when every routable
instance of the (model, version) a request wants is full, the request waits in a bounded queue.

Who goes next when a slot frees:
1. the priority class: registered (and admin) requests before demo ones;
2. within a class, the key with the fewest tokens in flight plus tokens queued ahead of this
   request, so one heavy key cannot starve the others;
3. then arrival order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from routing.instances import Instance

# Lower goes first.
PRIORITY_REGISTERED = 0
PRIORITY_DEMO = 1


def priority_of(tier: str | None) -> int:
    """Demo callers wait behind everyone else; a bare router's anonymous caller is not demo."""
    return PRIORITY_DEMO if tier == "demo" else PRIORITY_REGISTERED


@dataclass(frozen=True, slots=True)
class Waiter:
    """One queued request: its class, the key it is charged to, and its token weight."""

    seq: int
    priority: int
    key: str
    tokens: int


def next_waiter(waiters: Sequence[Waiter], key_tokens_in_flight: Mapping[str, int]) -> int:
    """The index in `waiters` (arrival order) of the request a freed slot goes to.

    A key's load for one of its waiters is its tokens in flight plus the tokens of its own
    waiters that arrived earlier: a key with ten queued requests ranks its tenth behind
    another key's first.
    """
    if not waiters:
        raise ValueError("no waiters")
    queued_ahead: dict[str, int] = {}
    best_index = 0
    best_rank: tuple[int, int, int] | None = None
    for index, w in enumerate(waiters):
        ahead = queued_ahead.get(w.key, 0)
        rank = (w.priority, key_tokens_in_flight.get(w.key, 0) + ahead, w.seq)
        queued_ahead[w.key] = ahead + w.tokens
        if best_rank is None or rank < best_rank:
            best_rank, best_index = rank, index
    return best_index


def instance_capacity(inst: Instance, default: int | None) -> int | None:
    """How many requests one instance takes at once; None: unlimited (never queued).

    Providers (`external`) are shed by their own 429s, not queued here.
    """
    if inst.kind == "external":
        return None
    raw = inst.tags.get("max_concurrency")
    if raw is not None:
        try:
            return max(1, int(raw))
        except ValueError:
            pass
    return default


def free_slots(
    instances: Iterable[Instance],
    default_capacity: int | None,
    in_flight: Mapping[str, int],
    now: float,
) -> int | None:
    """Free request slots over the routable instances; None when any of them is unlimited
    (or there is none: the dispatcher's own "no healthy instance" answer applies then)."""
    free = 0
    seen = False
    for inst in instances:
        if not inst.is_routable(now):
            continue
        cap = instance_capacity(inst, default_capacity)
        if cap is None:
            return None
        seen = True
        free += max(0, cap - in_flight.get(inst.instance_id, 0))
    return free if seen else None


def has_room(inst: Instance, default_capacity: int | None, in_flight: int) -> bool:
    cap = instance_capacity(inst, default_capacity)
    return cap is None or in_flight < cap


def retry_after_s(queued: int, capacity: int, latency_ms: float, cap_s: int = 30) -> int:
    """A Retry-After hint: how long the requests ahead would take to drain, 1..cap_s seconds."""
    if capacity <= 0 or latency_ms <= 0:
        return 1
    return max(1, min(cap_s, math.ceil((queued + 1) / capacity * latency_ms / 1000)))
