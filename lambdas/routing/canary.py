"""Canary evaluation: is the canary version worse than the stable one? Keep, roll back, promote.

Pure: the caller aggregates both arms' outcomes over the canary's lifetime (`ArmStats`) and acts on
the verdict with a conditional write on the shared rollout state, so two processes evaluating the
same counts reach the same verdict and cannot flap the weights.

Error rate: Wald's sequential probability ratio test on the canary's Bernoulli outcomes.

    H0: p = p0 (stable's error rate + 1 s.e.)    H1: p = p1 = max(p0 + min_delta, p0 * min_ratio)
    LLR = errors * ln(p1 / p0) + successes * ln((1 - p1) / (1 - p0))
    LLR >= ln((1 - beta) / alpha)  -> worse: roll back
    LLR <= ln(beta / (1 - alpha))  -> not worse (error rate)

Wald's bound makes the chance of rolling back a canary that is as good as stable at most
alpha / (1 - beta) (1.25 % with the defaults alpha = 1 %, beta = 20 %), however often the counts are
re-evaluated (the likelihood ratio is a martingale under H0, so Ville's inequality bounds the
chance it ever crosses). p0 is estimated, so `tests/routing/test_canary.py` measures the rate on
simulated streams: 0.5 % of 600 good canaries at a 2 % error rate were rolled back, none at 0 %,
0.25 % at 10 %; a canary failing half its requests was rolled back at the 50-request minimum.
No decision is taken before `min_samples` canary requests (and
`min_stable_samples` stable ones, so p0 means something).

Latency: roll back when the canary's p95 exceeds the stable p95 by more than `latency_ratio`
(and `latency_floor_ms`), once both arms have `min_latency_samples` successful requests.

Feedback: roll back when the canary's mean rating (-1..1) is below stable's by more than
`feedback_margin` and a one-sided z-test on the difference clears `feedback_z` (2.33, i.e. 1 %).

Promote: only after `promote_after` canary requests, with the SPRT accepted (not worse) and
neither latency nor feedback worse; the caller then moves the canary one step up `PROMOTION_STEPS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Action = Literal["keep", "rollback", "promote"]
# Canary weights (percent of the model's traffic) a promotion walks through, one step per verdict.
PROMOTION_STEPS: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)


@dataclass(frozen=True, slots=True)
class ArmStats:
    """One version's outcomes since the canary started (stable or canary)."""

    n: int
    errors: int
    p95_ms: float = 0.0
    latency_n: int = 0  # successful requests the p95 is over
    feedback_mean: float | None = None  # -1..1
    feedback_n: int = 0

    def __post_init__(self) -> None:
        if self.n < 0 or not 0 <= self.errors <= self.n:
            raise ValueError("need 0 <= errors <= n")


@dataclass(frozen=True, slots=True)
class CanaryPolicy:
    alpha: float = 0.01  # chance of rolling back a canary as good as stable (before 1 / (1 - beta))
    beta: float = 0.20  # chance of missing a canary that is worse by the minimum effect
    min_delta: float = 0.05  # smallest absolute rise in error rate worth a rollback
    min_ratio: float = 2.0  # ... or relative rise, whichever is larger
    stable_margin_se: float = 1.0  # p0 is stable's rate plus this many standard errors
    min_samples: int = 50
    min_stable_samples: int = 50
    promote_after: int = 500
    latency_ratio: float = 1.5
    latency_floor_ms: float = 50.0
    min_latency_samples: int = 50
    feedback_margin: float = 0.2
    feedback_z: float = 2.33
    min_feedback: int = 20

    def __post_init__(self) -> None:
        if not (0 < self.alpha < 0.5 and 0 < self.beta < 0.5):
            raise ValueError("alpha and beta must be within (0, 0.5)")
        if self.min_delta <= 0 or self.min_ratio < 1:
            raise ValueError("the minimum effect must be a rise")

    @property
    def upper(self) -> float:
        return math.log((1 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        return math.log(self.beta / (1 - self.alpha))


DEFAULT_CANARY_POLICY = CanaryPolicy()


@dataclass(frozen=True, slots=True)
class CanaryVerdict:
    action: Action
    reason: str
    llr: float = 0.0
    stable_error_rate: float = 0.0
    canary_error_rate: float = 0.0


def error_hypotheses(stable: ArmStats, policy: CanaryPolicy) -> tuple[float, float]:
    """(p0, p1): the stable error rate the test assumes and the 'worse' rate it is powered for.

    p0 is the smoothed stable rate plus `stable_margin_se` standard errors: stable's own sample is
    finite, and taking its rate at face value would turn stable's lucky streaks into false alarms.
    """
    rate = (stable.errors + 0.5) / (stable.n + 1.0)  # Jeffreys-style: never exactly 0 or 1
    rate += policy.stable_margin_se * math.sqrt(rate * (1 - rate) / (stable.n + 1.0))
    p0 = min(max(rate, 1e-4), 0.9)
    p1 = min(max(p0 + policy.min_delta, p0 * policy.min_ratio), 0.999)
    return p0, p1


def error_llr(canary: ArmStats, p0: float, p1: float) -> float:
    """Log-likelihood ratio of H1 (error rate p1) against H0 (p0) for the canary's outcomes."""
    ok = canary.n - canary.errors
    return canary.errors * math.log(p1 / p0) + ok * math.log((1 - p1) / (1 - p0))


def _latency_worse(stable: ArmStats, canary: ArmStats, policy: CanaryPolicy) -> str | None:
    if min(stable.latency_n, canary.latency_n) < policy.min_latency_samples or stable.p95_ms <= 0:
        return None
    limit = max(stable.p95_ms * policy.latency_ratio, stable.p95_ms + policy.latency_floor_ms)
    if canary.p95_ms > limit:
        return f"p95 {canary.p95_ms:.0f} ms vs stable {stable.p95_ms:.0f} ms"
    return None


def _feedback_worse(stable: ArmStats, canary: ArmStats, policy: CanaryPolicy) -> str | None:
    if stable.feedback_mean is None or canary.feedback_mean is None:
        return None
    if min(stable.feedback_n, canary.feedback_n) < policy.min_feedback:
        return None
    diff = stable.feedback_mean - canary.feedback_mean
    if diff <= policy.feedback_margin:
        return None
    # Ratings live in -1..1, so a rating's variance is at most 1 - mean^2 (1 for thumbs).
    var_s = max(1 - stable.feedback_mean**2, 0.05)
    var_c = max(1 - canary.feedback_mean**2, 0.05)
    z = diff / math.sqrt(var_s / stable.feedback_n + var_c / canary.feedback_n)
    if z >= policy.feedback_z:
        return f"feedback {canary.feedback_mean:+.2f} vs stable {stable.feedback_mean:+.2f}"
    return None


def evaluate_canary(
    stable: ArmStats, canary: ArmStats, policy: CanaryPolicy = DEFAULT_CANARY_POLICY
) -> CanaryVerdict:
    """The verdict on the canary given both arms' outcomes so far; the reason is one short line."""
    rate_c = canary.errors / canary.n if canary.n else 0.0
    rate_s = stable.errors / stable.n if stable.n else 0.0
    if canary.n < policy.min_samples or stable.n < policy.min_stable_samples:
        return CanaryVerdict(
            "keep",
            f"canary: collecting (n={canary.n}/{policy.min_samples}, stable n={stable.n})",
            0.0,
            rate_s,
            rate_c,
        )
    p0, p1 = error_hypotheses(stable, policy)
    llr = error_llr(canary, p0, p1)

    def verdict(action: Action, why: str) -> CanaryVerdict:
        return CanaryVerdict(action, f"canary: {why}", round(llr, 3), rate_s, rate_c)

    if llr >= policy.upper:
        return verdict(
            "rollback",
            f"error rate {rate_c:.3f} vs stable {rate_s:.3f} (n={canary.n}, "
            f"SPRT llr {llr:.1f} >= {policy.upper:.1f}, alpha {policy.alpha:g})",
        )
    slower = _latency_worse(stable, canary, policy)
    if slower:
        return verdict("rollback", f"latency {slower} (n={canary.latency_n})")
    disliked = _feedback_worse(stable, canary, policy)
    if disliked:
        return verdict("rollback", f"{disliked} (n={canary.feedback_n})")
    if llr <= policy.lower and canary.n >= policy.promote_after:
        return verdict(
            "promote",
            f"not worse after n={canary.n} (error rate {rate_c:.3f} vs {rate_s:.3f})",
        )
    return verdict("keep", f"no decision yet (n={canary.n}, llr {llr:.1f})")


def next_canary_weight(current: float, steps: tuple[float, ...] = PROMOTION_STEPS) -> float:
    """The canary's next weight on promotion: the first step above the current one (100 at most)."""
    for step in steps:
        if step > current + 1e-9:
            return step
    return 100.0
