"""Per-instance circuit breaker: closed -> open (ejected) -> half-open (probing) -> closed.

The state is exactly the breaker fields of `routing.instances.Instance`, so it is stored in the
instances table and shared by every router process. All functions are pure: they take a state
and the time and return a new state, which the caller writes with a conditional update on `rev`.
If that write loses a race, the caller re-reads the stored state and applies the same event
again (`record_result` on the fresh state); transitions are written so that re-applying an
event that another writer already applied changes nothing that matters (an ejection is not
repeated, a close is not undone).

Stored states and what they mean at time `now`:

- closed: traffic flows; `consecutive_failures` counts the current run of failures.
- open with now < ejected_until: ejected, nothing is admitted.
- open with now >= ejected_until: ejection over, waiting for a probe; one may be claimed.
- half_open: a probe was claimed at `breaker_opened_at`; the claim lasts `probe_timeout_s`, after
  which another probe may be claimed (so a hung probe can never keep the breaker open forever).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from routing.instances import BreakerState, Instance
from routing.outcome import Outcome
from routing.outlier import DEFAULT_POLICY, OutlierPolicy, ejection_duration, trips

Phase = Literal["closed", "ejected", "probe_ready", "probing"]


@dataclass(frozen=True, slots=True)
class HealthState:
    """The shared breaker fields of one instance."""

    breaker_state: BreakerState = "closed"
    breaker_opened_at: float = 0.0
    consecutive_failures: int = 0
    ejection_count: int = 0
    ejected_until: float = 0.0

    @classmethod
    def of(cls, instance: Instance) -> HealthState:
        return cls(
            breaker_state=instance.breaker_state,
            breaker_opened_at=instance.breaker_opened_at,
            consecutive_failures=instance.consecutive_failures,
            ejection_count=instance.ejection_count,
            ejected_until=instance.ejected_until,
        )

    def applied_to(self, instance: Instance) -> Instance:
        """`instance` with these breaker fields (other fields, `rev` included, untouched)."""
        return dataclasses.replace(instance, **self.as_dict())

    def as_dict(self) -> dict[str, float | int | str]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether one request may go to the instance now.

    When `claim` is set the request is a probe: persist `claim` (conditional write on `rev`)
    before sending it so other router processes see the slot as taken; if that write loses,
    re-read and ask again. `probe_timeout` must bound the probe (headers/first byte at least).
    """

    allowed: bool
    is_probe: bool = False
    probe_timeout: float | None = None
    # Seconds until this instance may be tried again, when refused.
    retry_after: float | None = None
    claim: HealthState | None = None


def phase(state: HealthState, now: float, policy: OutlierPolicy = DEFAULT_POLICY) -> Phase:
    """Where the breaker effectively is at `now` (stored state plus the passage of time)."""
    if state.breaker_state == "closed":
        return "closed"
    if state.breaker_state == "open":
        return "ejected" if now < state.ejected_until else "probe_ready"
    if now < state.breaker_opened_at + policy.probe_timeout_s:
        return "probing"
    return "probe_ready"


def admit(
    state: HealthState,
    now: float,
    probes_in_flight: int = 0,
    policy: OutlierPolicy = DEFAULT_POLICY,
) -> Admission:
    """May a request go to this instance now? `probes_in_flight` counts this process's probes."""
    current = phase(state, now, policy)
    if current == "closed":
        return Admission(allowed=True)
    if current == "ejected":
        return Admission(allowed=False, retry_after=state.ejected_until - now)
    if current == "probe_ready":
        if probes_in_flight >= policy.max_probes:
            return Admission(allowed=False, retry_after=policy.probe_timeout_s)
        claim = dataclasses.replace(
            state, breaker_state="half_open", breaker_opened_at=_stamp(state, now)
        )
        return Admission(
            allowed=True, is_probe=True, probe_timeout=policy.probe_timeout_s, claim=claim
        )
    # Probing: only the process that holds the claim (it has probes in flight) may add more.
    lease_left = min(policy.probe_timeout_s, state.breaker_opened_at + policy.probe_timeout_s - now)
    if 0 < probes_in_flight < policy.max_probes:
        return Admission(allowed=True, is_probe=True, probe_timeout=lease_left)
    return Admission(allowed=False, retry_after=lease_left)


def decayed_ejections(
    state: HealthState, now: float, policy: OutlierPolicy = DEFAULT_POLICY
) -> int:
    """Past ejections still held against the instance: one is forgiven per decay period spent
    back in service, so an instance that failed once last week starts from a short ejection."""
    if state.ejection_count <= 0 or now <= state.ejected_until or policy.ejection_decay_s <= 0:
        return max(0, state.ejection_count)
    forgiven = int((now - state.ejected_until) // policy.ejection_decay_s)
    return max(0, state.ejection_count - forgiven)


def eject(
    state: HealthState, now: float, count: int, policy: OutlierPolicy = DEFAULT_POLICY
) -> HealthState:
    """Open the breaker for the `count`-th ejection."""
    stamp = _stamp(state, now)
    return HealthState(
        breaker_state="open",
        breaker_opened_at=stamp,
        consecutive_failures=state.consecutive_failures,
        ejection_count=count,
        ejected_until=stamp + ejection_duration(count, policy),
    )


def record_result(
    state: HealthState,
    outcome: Outcome,
    now: float,
    policy: OutlierPolicy = DEFAULT_POLICY,
    *,
    may_eject: bool = True,
    started_at: float | None = None,
) -> HealthState:
    """The state after one request to the instance ended with `outcome`.

    `may_eject` is the pool cap's answer (`routing.outlier.may_eject`); when it is False a run of
    failures leaves the breaker closed with the count above threshold ("suspect").
    `started_at`, when given, lets results of requests sent before the latest transition be
    ignored: they describe the instance as it was, not as it is.
    """
    if started_at is not None and started_at < state.breaker_opened_at:
        return state
    current = phase(state, now, policy)
    bad = outcome.counts_as_failure or outcome.overloaded

    if current == "closed":
        if outcome is Outcome.ok:
            return _reset(state)
        if not bad:
            return state
        run = state.consecutive_failures + 1
        counted = dataclasses.replace(state, consecutive_failures=run)
        if may_eject and trips(run, outcome.overloaded, policy):
            return eject(counted, now, decayed_ejections(state, now, policy) + 1, policy)
        return counted

    if current == "ejected":
        # Late answers from requests admitted before the ejection change nothing.
        return state

    # probe_ready or probing: this result is the probe's verdict.
    if outcome is Outcome.cancelled:
        return state
    if not bad:
        # Any answer, even a 4xx, proves the instance serves again.
        return dataclasses.replace(state, breaker_state="closed", consecutive_failures=0)
    # A busy instance is alive: keep it out as long as last time, without escalating.
    count = state.ejection_count if outcome.overloaded else state.ejection_count + 1
    return eject(state, now, max(1, count), policy)


def _stamp(state: HealthState, now: float) -> float:
    # Transition stamps must strictly increase (see `merge`), even if two land on one clock tick.
    if now > state.breaker_opened_at:
        return now
    return math.nextafter(state.breaker_opened_at, math.inf)


def _reset(state: HealthState) -> HealthState:
    if state.consecutive_failures == 0:
        return state
    return dataclasses.replace(state, consecutive_failures=0)


_RANK = {"open": 0, "half_open": 1, "closed": 2}


def _order_key(state: HealthState) -> tuple[float, int]:
    # Every transition either moves breaker_opened_at forward (open, probe claim) or moves to a
    # later state at the same stamp (probe claim -> closed), so this key only grows.
    return (state.breaker_opened_at, _RANK[state.breaker_state])


def merge(local: HealthState, stored: HealthState) -> HealthState:
    """Reconcile two views of one breaker: the most recent transition wins; on the same
    transition, counters take the larger value. Commutative, associative and idempotent, so
    the order in which router processes reconcile does not matter.

    Prefer re-applying the event to a freshly read state after a lost conditional write; use
    this to fold a local snapshot that may hold a transition not yet written into a newer read.
    """
    a, b = _order_key(local), _order_key(stored)
    if a != b:
        return local if a > b else stored
    return HealthState(
        breaker_state=local.breaker_state,
        breaker_opened_at=local.breaker_opened_at,
        consecutive_failures=max(local.consecutive_failures, stored.consecutive_failures),
        ejection_count=max(local.ejection_count, stored.ejection_count),
        ejected_until=max(local.ejected_until, stored.ejected_until),
    )


def available(state: HealthState, now: float, policy: OutlierPolicy = DEFAULT_POLICY) -> bool:
    """Takes ordinary traffic (closed). Probe-ready instances get traffic only through `admit`."""
    return phase(state, now, policy) == "closed"
