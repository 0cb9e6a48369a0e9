"""When the router may try again, where, after how long, and with what timeout.

Retries happen in the router only (one layer, so failures never multiply through a stack of
retrying layers) and only while nothing has reached the client yet: once a byte of the answer has
been sent, trying again would duplicate or splice content, so the router ends the stream with an
error instead. Everything here is pure: the clock arrives as `now` (seconds), randomness as an
injected `random.Random`, and the live instance list as a callable supplied by the router.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from random import Random
from typing import Literal

# The outcome enum and the budget live in their own modules; both are part of this one's names.
from routing.outcome import Outcome as Outcome
from routing.outcome import classify_status as classify_status
from routing.retry_budget import BudgetPolicy as BudgetPolicy
from routing.retry_budget import RetryBudget

# --- backoff and Retry-After -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Knobs for one request's retries; defaults suit an interactive LLM gateway."""

    # Total upstream attempts for one client request, the first included.
    max_attempts: int = 3
    base_backoff_s: float = 0.025
    max_backoff_s: float = 1.0
    # Longest upstream Retry-After the router will sit out on the client's behalf.
    max_retry_after_s: float = 5.0
    # Per-attempt timeout when the deadline leaves room for it.
    attempt_timeout_s: float = 60.0
    # Time kept back from the Lambda deadline to write the error answer and flush logs.
    deadline_margin_s: float = 1.0
    # An attempt with less time than this is not started: it could not finish.
    min_attempt_timeout_s: float = 0.25
    # Try the instance that just failed again (after backoff) when no other copy exists.
    retry_same_instance: bool = True


def backoff_delay(attempt: int, rng: Random, policy: RetryPolicy = RetryPolicy()) -> float:
    """Full-jitter backoff before retry number `attempt` (0 for the first retry)."""
    ceiling = min(policy.max_backoff_s, policy.base_backoff_s * 2 ** max(0, min(attempt, 62)))
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent/bad.

    A date in the past means "now" (0). `now` is a Unix time, used only for the HTTP-date form.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is not None:
        if math.isnan(seconds) or seconds < 0:
            return None
        return min(seconds, 1e9)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are GMT; a zone-less parse means the sender left it out.
        return None
    return max(0.0, when.timestamp() - now)


def attempt_timeout(
    now: float,
    deadline: float,
    policy: RetryPolicy = RetryPolicy(),
    configured: float | None = None,
) -> float | None:
    """Timeout for an attempt starting at `now`, or None when there is no time left for one.

    `deadline` is absolute (the Lambda's remaining time added to `now` at request start); the
    attempt must end `deadline_margin_s` before it so the router can still answer the client.
    """
    limit = policy.attempt_timeout_s if configured is None else configured
    remaining = deadline - now - policy.deadline_margin_s
    timeout = min(limit, remaining)
    if timeout < policy.min_attempt_timeout_s:
        return None
    return timeout


# --- failover plan and the decision ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """One (model, version) the request may be answered by, in the routing engine's order."""

    model: str
    version: str


# Given a candidate, the instance ids that may take traffic now, best first (the router applies
# its strategy, breaker admission and cooldowns before answering).
AvailableInstances = Callable[[Candidate], Sequence[str]]

StopReason = Literal[
    "not_retryable",
    "already_streaming",
    "no_healthy_instance",
    "upstream_rate_limited",
    "retry_budget_exhausted",
    "upstream_timeout",
    "upstream_error",
]

# What the client sees for each way of giving up.
STOP_STATUS: dict[str, int] = {
    "no_healthy_instance": 503,
    "upstream_rate_limited": 429,
    "retry_budget_exhausted": 503,
    "upstream_timeout": 504,
    "upstream_error": 502,
}
# Ways of giving up after which the client should come back later: they get a Retry-After.
_RETRY_LATER = frozenset({"no_healthy_instance", "upstream_rate_limited", "retry_budget_exhausted"})


@dataclass(frozen=True, slots=True)
class Target:
    candidate: Candidate
    instance_id: str


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One finished upstream attempt."""

    target: Target
    outcome: Outcome
    bytes_sent_to_client: int = 0
    # Raw Retry-After header of the upstream answer, if any.
    retry_after: str | None = None
    # The same, already parsed to seconds by the client that read it (wins over `retry_after`).
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Try `target` after sleeping `delay_s`, giving the attempt `timeout_s`."""

    target: Target
    delay_s: float
    timeout_s: float
    # The failed instance asked not to be called for this long: keep it out of rotation.
    cooldown_s: float | None = None
    failover: bool = False


@dataclass(frozen=True, slots=True)
class Stop:
    """Give up. `status` is None when the upstream answer (4xx) is passed to the client as is."""

    reason: StopReason
    status: int | None
    retry_after_s: int | None = None
    cooldown_s: float | None = None


@dataclass
class RequestRetries:
    """The retry state of one client request: its deadline, plan and attempts so far."""

    deadline: float
    plan: tuple[Candidate, ...]
    attempts: list[AttemptRecord] = field(default_factory=list)

    def tried(self) -> set[str]:
        return {a.target.instance_id for a in self.attempts}


def first_target(request: RequestRetries, available: AvailableInstances) -> Target | None:
    """Where the first attempt goes: the best instance of the first candidate that has one."""
    for candidate in request.plan:
        ids = available(candidate)
        if ids:
            return Target(candidate, ids[0])
    return None


def stop_for(outcome: Outcome) -> StopReason:
    """The typed reason for giving up after `outcome` (when no retry is possible)."""
    if outcome.is_timeout:
        return "upstream_timeout"
    if outcome is Outcome.http_429:
        # Busy, not broken: the client waits as long as the instance asked.
        return "upstream_rate_limited"
    if outcome is Outcome.conn_refused:
        # Nobody could take the request: same as having no healthy instance.
        return "no_healthy_instance"
    return "upstream_error"


def give_up(
    reason: StopReason, cooldown: float | None = None, retry_after_s: float | None = None
) -> Stop:
    """The typed stop for `reason`, with a Retry-After hint where the client should wait."""
    status = STOP_STATUS.get(reason)
    hint = None
    if reason in _RETRY_LATER:
        hint = max(1, math.ceil(retry_after_s)) if retry_after_s else 1
    return Stop(reason=reason, status=status, retry_after_s=hint, cooldown_s=cooldown)


_stop = give_up


def plan_first_attempt(
    request: RequestRetries,
    available: AvailableInstances,
    now: float,
    policy: RetryPolicy = RetryPolicy(),
) -> Retry | Stop:
    """Where the first attempt goes and its timeout, or why none can start."""
    target = first_target(request, available)
    if target is None:
        return give_up("no_healthy_instance")
    timeout = attempt_timeout(now, request.deadline, policy)
    if timeout is None:
        return give_up("upstream_timeout")
    return Retry(target=target, delay_s=0.0, timeout_s=timeout)


def decide(
    request: RequestRetries,
    last: AttemptRecord,
    now: float,
    rng: Random,
    available: AvailableInstances,
    budget: RetryBudget | None = None,
    policy: RetryPolicy = RetryPolicy(),
    wall_clock: float | None = None,
) -> Retry | Stop:
    """What to do after the attempt `last` failed. Appends `last` to the request's attempts.

    `wall_clock` is the Unix time used to read an HTTP-date Retry-After (defaults to `now`).
    When this returns a `Retry` and a budget was given, one retry has been reserved from it: the
    caller must `budget.release()` when that attempt ends.
    """
    request.attempts.append(last)
    outcome = last.outcome
    if not outcome.retryable:
        return Stop(reason="not_retryable", status=None)

    retry_after = last.retry_after_s
    if retry_after is None:
        retry_after = parse_retry_after(last.retry_after, now if wall_clock is None else wall_clock)
    cooldown = retry_after if retry_after is not None and retry_after > 0 else None

    if last.bytes_sent_to_client > 0:
        # Part of the answer is already with the client: a retry would duplicate it.
        return Stop(reason="already_streaming", status=None, cooldown_s=cooldown)
    if len(request.attempts) >= policy.max_attempts:
        return _stop(stop_for(outcome), cooldown, retry_after)

    attempt_index = len(request.attempts) - 1
    delay = backoff_delay(attempt_index, rng, policy)
    timeout = attempt_timeout(now + delay, request.deadline, policy)
    if timeout is None:
        delay = 0.0
        timeout = attempt_timeout(now, request.deadline, policy)
        if timeout is None:
            return _stop("upstream_timeout", cooldown, retry_after)

    choice = _pick(request, last, available, retry_after, now, delay, policy)
    if choice is None:
        return _stop(stop_for(outcome), cooldown, retry_after)
    target, extra_wait, failover = choice
    if extra_wait > delay:
        delay = extra_wait
        timeout = attempt_timeout(now + delay, request.deadline, policy)
        if timeout is None:
            return _stop(stop_for(outcome), cooldown, retry_after)

    if budget is not None and not budget.try_acquire(now):
        return _stop("retry_budget_exhausted", cooldown, retry_after)
    return Retry(
        target=target, delay_s=delay, timeout_s=timeout, cooldown_s=cooldown, failover=failover
    )


def _pick(
    request: RequestRetries,
    last: AttemptRecord,
    available: AvailableInstances,
    retry_after: float | None,
    now: float,
    delay: float,
    policy: RetryPolicy,
) -> tuple[Target, float, bool] | None:
    """Choose the next target and any wait it needs beyond backoff: (target, wait, failover)."""
    tried = request.tried()
    current = last.target.candidate
    for instance_id in available(current):
        if instance_id not in tried:
            return Target(current, instance_id), 0.0, False

    if policy.retry_same_instance and last.outcome in _SAME_INSTANCE_RETRYABLE:
        # Only quick, transient failures are worth repeating on the same copy: a timeout has
        # already spent the client's time there, a refused or garbled answer will recur.
        same_ok = last.target.instance_id in available(current)
        wait = retry_after or 0.0
        fits = (
            wait <= policy.max_retry_after_s
            and attempt_timeout(now + max(wait, delay), request.deadline, policy) is not None
        )
        if same_ok and fits and _same_attempts(request, last.target) < 2:
            return last.target, wait, False

    start = request.plan.index(current) + 1 if current in request.plan else 0
    for candidate in request.plan[start:]:
        for instance_id in available(candidate):
            if instance_id not in tried:
                return Target(candidate, instance_id), 0.0, True
    return None


_SAME_INSTANCE_RETRYABLE = frozenset({Outcome.http_5xx, Outcome.http_429, Outcome.conn_reset})


def _same_attempts(request: RequestRetries, target: Target) -> int:
    return sum(1 for a in request.attempts if a.target == target)
