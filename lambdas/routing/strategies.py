"""Instance strategies: which running copy of a chosen (model, version) takes the request.

Every strategy sees only instances that are routable at `now` and not already tried; instances
whose breaker is not closed (half-open, or open with its ejection over) are offered only when the
caller says a probe slot is free. Randomness
comes from an injected `random.Random`, and round-robin keeps its counter in a `StrategyState`
owned by the caller, so equal inputs (and equal seeds) always give equal picks.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from routing.catalog import STRATEGIES, Strategy
from routing.instances import Instance


@dataclass
class StrategyState:
    """Mutable per-process strategy state (round-robin position per (model, version))."""

    round_robin: dict[tuple[str, str], int] = field(default_factory=dict)


def eligible(
    instances: Sequence[Instance],
    now: float,
    exclude: Collection[str] = (),
    allow_half_open: bool = False,
) -> list[Instance]:
    """The instances a strategy may choose from."""
    return [
        i
        for i in instances
        if i.is_routable(now)
        and i.instance_id not in exclude
        # Any breaker that is not closed (half-open, or open past its ejection) takes probes only.
        and (allow_half_open or i.breaker_state == "closed")
    ]


def load(inst: Instance) -> int:
    return inst.in_flight + inst.queue_depth


def hour_cost(inst: Instance) -> float:
    """Instance-hour price from the `hour_usd` tag; untagged instances sort last."""
    raw = inst.tags.get("hour_usd")
    try:
        value = float(raw) if raw is not None else math.inf
    except ValueError:
        return math.inf
    return value if value >= 0 and math.isfinite(value) else math.inf


def _capacity(inst: Instance) -> int | None:
    raw = inst.tags.get("max_concurrency")
    if raw is None:
        return None
    try:
        return max(1, int(raw))
    except ValueError:
        return None


def _pick_min(
    cands: list[Instance], key: Callable[[Instance], tuple], rng: random.Random
) -> Instance:
    """The instance with the smallest key; ties are broken at random so load spreads."""
    best = min(key(i) for i in cands)
    ties = [i for i in cands if key(i) == best]
    return ties[0] if len(ties) == 1 else ties[rng.randrange(len(ties))]


def _round_robin(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    ordered = sorted(cands, key=lambda i: i.instance_id)
    k = (ordered[0].model, ordered[0].version)
    pos = state.round_robin.get(k, 0)
    state.round_robin[k] = pos + 1
    return ordered[pos % len(ordered)]


def _weighted(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    weights = [max(0.0, i.weight) for i in cands]
    total = sum(weights)
    if total <= 0:
        return cands[rng.randrange(len(cands))]
    point = rng.random() * total
    for inst, w in zip(cands, weights, strict=True):
        point -= w
        if point < 0:
            return inst
    return next(i for i, w in zip(cands, weights, strict=True) if w > 0)


def _least_outstanding(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    return _pick_min(cands, lambda i: (load(i),), rng)


def _latency(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    # A fresh instance has no EWMA yet; rating it as fast as the best known lets it earn one.
    known = [i.latency_ewma_ms for i in cands if i.latency_ewma_ms > 0]
    floor = min(known) if known else 0.0
    return _pick_min(
        cands, lambda i: (i.latency_ewma_ms if i.latency_ewma_ms > 0 else floor, load(i)), rng
    )


def _power_of_two(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    if len(cands) == 1:
        return cands[0]
    a, b = rng.sample(range(len(cands)), 2)
    first, second = cands[a], cands[b]
    return (
        second
        if (load(second), second.latency_ewma_ms) < (load(first), first.latency_ewma_ms)
        else first
    )


def _cost(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    return _pick_min(cands, lambda i: (hour_cost(i), load(i)), rng)


def _availability(cands: list[Instance], rng: random.Random, state: StrategyState) -> Instance:
    def key(i: Instance) -> tuple:
        cap = _capacity(i)
        headroom = (cap - load(i)) if cap is not None else -load(i)
        # Closed breakers before half-open ones, then the cleanest failure record, then headroom.
        return (i.breaker_state != "closed", i.consecutive_failures, i.ejection_count, -headroom)

    return _pick_min(cands, key, rng)


_STRATEGIES: dict[str, Callable[[list[Instance], random.Random, StrategyState], Instance]] = {
    "round_robin": _round_robin,
    "weighted": _weighted,
    "least_outstanding": _least_outstanding,
    "latency": _latency,
    "power_of_two": _power_of_two,
    "cost": _cost,
    "availability": _availability,
}
assert set(_STRATEGIES) == set(STRATEGIES)


def pick_instance(
    strategy: Strategy,
    instances: Sequence[Instance],
    now: float,
    rng: random.Random,
    state: StrategyState | None = None,
    exclude: Collection[str] = (),
    allow_half_open: bool = False,
) -> Instance | None:
    """Choose one instance with `strategy`, or None when no instance is eligible."""
    cands = eligible(instances, now, exclude, allow_half_open)
    if not cands:
        return None
    try:
        fn = _STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}") from None
    return fn(cands, rng, state if state is not None else StrategyState())
