"""Canary evaluation on simulated outcome streams: bad canaries roll back, good ones do not."""

from __future__ import annotations

import random

import pytest

from routing.canary import (
    DEFAULT_CANARY_POLICY,
    ArmStats,
    CanaryPolicy,
    error_hypotheses,
    evaluate_canary,
    next_canary_weight,
)

POLICY = DEFAULT_CANARY_POLICY


def _run(
    rng: random.Random,
    stable_rate: float,
    canary_rate: float,
    canary_share: float = 0.2,
    step: int = 10,
    max_canary: int = 2000,
) -> tuple[str, int]:
    """Feed both arms `step` canary requests at a time, evaluating after each batch, as a router
    re-evaluating on every refresh would. Returns (final action, canary requests seen)."""
    s_n = s_e = c_n = c_e = 0
    per_stable = round(step * (1 - canary_share) / canary_share)
    while c_n < max_canary:
        c_e += sum(rng.random() < canary_rate for _ in range(step))
        s_e += sum(rng.random() < stable_rate for _ in range(per_stable))
        c_n += step
        s_n += per_stable
        verdict = evaluate_canary(ArmStats(s_n, s_e), ArmStats(c_n, c_e), POLICY)
        if verdict.action != "keep":
            return verdict.action, c_n
    return "keep", c_n


def test_a_canary_failing_half_its_requests_is_rolled_back_at_the_minimum_sample() -> None:
    rng = random.Random(1)
    outcomes = [_run(rng, 0.02, 0.5) for _ in range(300)]
    assert all(action == "rollback" for action, _ in outcomes)
    assert max(n for _, n in outcomes) <= 60  # decided as soon as 50 canary requests are in


def test_a_canary_as_good_as_stable_is_rarely_rolled_back_and_then_promoted() -> None:
    rng = random.Random(2)
    outcomes = [_run(rng, 0.02, 0.02) for _ in range(600)]
    false_alarms = sum(action == "rollback" for action, _ in outcomes) / len(outcomes)
    # The stated bound: alpha / (1 - beta) = 1.25 % (measured here: 0.5 %, 3 of 600).
    assert false_alarms <= 0.0125, false_alarms
    promoted = sum(action == "promote" for action, _ in outcomes) / len(outcomes)
    assert promoted >= 0.95


def test_false_alarms_stay_bounded_for_a_perfect_stable_and_a_noisy_one() -> None:
    for rate, seed in ((0.0, 3), (0.10, 4)):
        rng = random.Random(seed)
        outcomes = [_run(rng, rate, rate, max_canary=600) for _ in range(400)]
        false_alarms = sum(action == "rollback" for action, _ in outcomes) / len(outcomes)
        assert false_alarms <= 0.0125, (rate, false_alarms)


def test_a_canary_worse_by_the_minimum_effect_is_caught_with_the_stated_power() -> None:
    rng = random.Random(5)
    _, p1 = error_hypotheses(ArmStats(10_000, 200), POLICY)
    outcomes = [_run(rng, 0.02, p1) for _ in range(300)]
    caught = sum(action == "rollback" for action, _ in outcomes) / len(outcomes)
    assert caught >= 1 - POLICY.beta


def test_a_slightly_better_canary_is_never_rolled_back() -> None:
    rng = random.Random(6)
    outcomes = [_run(rng, 0.05, 0.03, max_canary=800) for _ in range(200)]
    assert not any(action == "rollback" for action, _ in outcomes)


def test_nothing_is_decided_before_the_minimum_sample() -> None:
    early = evaluate_canary(ArmStats(1000, 10), ArmStats(49, 49))
    assert early.action == "keep" and "collecting" in early.reason
    no_baseline = evaluate_canary(ArmStats(10, 0), ArmStats(200, 200))
    assert no_baseline.action == "keep"
    assert evaluate_canary(ArmStats(1000, 10), ArmStats(50, 50)).action == "rollback"


def test_rollback_reason_says_what_was_worse_and_by_which_test() -> None:
    verdict = evaluate_canary(ArmStats(2000, 20), ArmStats(100, 60))
    assert verdict.action == "rollback"
    assert verdict.reason.startswith("canary: error rate 0.600 vs stable 0.010 (n=100")
    assert "SPRT" in verdict.reason and "alpha 0.01" in verdict.reason
    assert verdict.llr >= POLICY.upper


def test_slower_canary_is_rolled_back_and_a_little_slower_is_not() -> None:
    stable = ArmStats(2000, 20, p95_ms=800, latency_n=1980)
    slow = evaluate_canary(stable, ArmStats(200, 2, p95_ms=1600, latency_n=198))
    assert slow.action == "rollback" and "latency p95 1600 ms vs stable 800 ms" in slow.reason
    close = evaluate_canary(stable, ArmStats(200, 2, p95_ms=900, latency_n=198))
    assert close.action == "keep"
    few = evaluate_canary(stable, ArmStats(200, 2, p95_ms=5000, latency_n=10))
    assert few.action == "keep"


def test_disliked_canary_is_rolled_back_only_with_enough_significant_ratings() -> None:
    stable = ArmStats(5000, 50, feedback_mean=0.6, feedback_n=400)
    disliked = evaluate_canary(stable, ArmStats(300, 3, feedback_mean=-0.2, feedback_n=80))
    assert disliked.action == "rollback" and "feedback -0.20 vs stable +0.60" in disliked.reason
    assert (
        evaluate_canary(stable, ArmStats(300, 3, feedback_mean=0.5, feedback_n=80)).action == "keep"
    )
    assert (
        evaluate_canary(stable, ArmStats(300, 3, feedback_mean=-0.9, feedback_n=5)).action == "keep"
    )


def test_promotion_needs_the_configured_sample_and_walks_the_steps() -> None:
    stable = ArmStats(20_000, 200)
    assert evaluate_canary(stable, ArmStats(400, 4)).action == "keep"
    promoted = evaluate_canary(stable, ArmStats(600, 6))
    assert promoted.action == "promote" and "not worse after n=600" in promoted.reason
    assert [next_canary_weight(w) for w in (0, 5, 10, 25, 50, 100)] == [5, 25, 25, 50, 100, 100]


def test_same_counts_same_verdict() -> None:
    a = evaluate_canary(ArmStats(900, 9), ArmStats(100, 4))
    assert a == evaluate_canary(ArmStats(900, 9), ArmStats(100, 4))


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError):
        ArmStats(10, 11)
    with pytest.raises(ValueError):
        CanaryPolicy(alpha=0.7)
    with pytest.raises(ValueError):
        CanaryPolicy(min_ratio=0.5)
