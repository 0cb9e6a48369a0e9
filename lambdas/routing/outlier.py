"""Passive outlier detection: when an instance has failed often enough to be taken out, for how
long, and how many of a pool may be out at once.

The breaker state machine that acts on these rules is in `routing.breaker`. Defaults follow
Envoy's outlier detection (5 consecutive errors, 30 s x times ejected, at most 10 % of hosts but
at least one) and Hystrix's single trial request.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from routing.instances import Instance


@dataclass(frozen=True, slots=True)
class OutlierPolicy:
    """Thresholds and timings of passive health; all times in seconds."""

    # Consecutive failures (5xx, timeouts, connection errors, broken streams) that eject.
    consecutive_failures: int = 5
    # 429s count into the same run but eject on their own only at this length: one busy answer
    # is back-pressure, a long unbroken run means the instance cannot serve at all.
    consecutive_overloaded: int = 10
    base_ejection_s: float = 30.0
    max_ejection_s: float = 300.0
    max_ejection_percent: float = 10.0
    # Concurrent trial requests a half-open breaker lets through (per router process).
    max_probes: int = 1
    # Each trial request's own timeout; also how long a claimed probe holds the half-open slot.
    probe_timeout_s: float = 10.0
    # One past ejection is forgiven per this many seconds spent un-ejected.
    ejection_decay_s: float = 300.0
    # Retry-After sent with a 503 when nothing is healthy and no ejection end is known.
    default_retry_after_s: int = 5


DEFAULT_POLICY = OutlierPolicy()


def ejection_duration(ejection_count: int, policy: OutlierPolicy = DEFAULT_POLICY) -> float:
    """How long the `ejection_count`-th ejection lasts: base x count, capped."""
    return min(policy.max_ejection_s, policy.base_ejection_s * max(1, ejection_count))


def trips(consecutive: int, overloaded: bool, policy: OutlierPolicy = DEFAULT_POLICY) -> bool:
    """Whether a run of `consecutive` bad results, the latest of the given kind, ejects."""
    threshold = policy.consecutive_overloaded if overloaded else policy.consecutive_failures
    return consecutive >= threshold


def is_suspect(instance: Instance, policy: OutlierPolicy = DEFAULT_POLICY) -> bool:
    """Closed breaker but over the failure threshold: ejection was refused by the pool cap.

    The router should send such an instance traffic only when nothing better is available.
    """
    return (
        instance.breaker_state == "closed"
        and instance.consecutive_failures >= policy.consecutive_failures
    )


def is_out(instance: Instance) -> bool:
    """Taken out by passive health (ejected, or open/half-open waiting for a good probe)."""
    return instance.breaker_state != "closed"


def max_ejected(pool_size: int, policy: OutlierPolicy = DEFAULT_POLICY) -> int:
    """How many instances of a pool may be ejected at once: the percentage, but at least one."""
    return max(1, math.floor(pool_size * policy.max_ejection_percent / 100.0))


def may_eject(
    candidate_id: str,
    pool: Sequence[Instance],
    now: float,
    policy: OutlierPolicy = DEFAULT_POLICY,
) -> bool:
    """Whether `candidate_id` may be ejected given the other instances of its pool.

    The pool is every instance of one (model, version). Within the cap, yes. Above it, only when
    every other instance still taking traffic is itself failing or the candidate is the last
    one: then the cap would protect nothing but would keep clients waiting on known-bad
    instances, so ejecting everything and failing fast (503 + Retry-After, or a fallback model)
    is the better answer.
    """
    others = [i for i in pool if i.instance_id != candidate_id]
    already_out = sum(1 for i in others if is_out(i))
    if already_out + 1 <= max_ejected(len(others) + 1, policy):
        return True
    serving = [i for i in others if i.is_routable(now)]
    return all(is_suspect(i, policy) for i in serving)


def retry_after_for(
    pool: Sequence[Instance], now: float, policy: OutlierPolicy = DEFAULT_POLICY
) -> int:
    """Whole seconds a client should wait when no instance of `pool` can serve: until the first
    ejection ends (when a probe may succeed), else the policy default."""
    ends = [i.ejected_until for i in pool if is_out(i) and i.ejected_until > now]
    if not ends:
        return policy.default_retry_after_s
    return max(1, math.ceil(min(ends) - now))
