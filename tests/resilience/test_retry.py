"""Retry decisions: backoff bounds, Retry-After, deadlines, failover order, typed give-ups and
the retry budget under total upstream failure."""

import math
from datetime import UTC, datetime
from email.utils import format_datetime
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.retry import (
    AttemptRecord,
    BudgetPolicy,
    Candidate,
    Outcome,
    RequestRetries,
    Retry,
    RetryBudget,
    RetryPolicy,
    Stop,
    Target,
    attempt_timeout,
    backoff_delay,
    decide,
    first_target,
    parse_retry_after,
)

POLICY = RetryPolicy()
PRIMARY = Candidate("llama", "v2")
FALLBACK = Candidate("phi", "v1")


def pools(mapping: dict[Candidate, list[str]]):
    return lambda candidate: mapping.get(candidate, [])


def request(deadline: float = 100.0) -> RequestRetries:
    return RequestRetries(deadline=deadline, plan=(PRIMARY, FALLBACK))


def failed(instance: str, outcome: Outcome = Outcome.http_5xx, **kw) -> AttemptRecord:
    candidate = FALLBACK if instance.startswith("f") else PRIMARY
    return AttemptRecord(Target(candidate, instance), outcome, **kw)


@given(st.integers(0, 200), st.integers(0, 2**32))
def test_backoff_is_full_jitter_within_the_capped_exponential(attempt: int, seed: int) -> None:
    delay = backoff_delay(attempt, Random(seed), POLICY)
    ceiling = min(POLICY.max_backoff_s, POLICY.base_backoff_s * 2**attempt)
    assert 0 <= delay <= ceiling


def test_backoff_uses_the_whole_range() -> None:
    rng = Random(7)
    draws = [backoff_delay(3, rng) for _ in range(2000)]
    ceiling = POLICY.base_backoff_s * 8
    assert min(draws) < 0.05 * ceiling
    assert max(draws) > 0.95 * ceiling


@given(st.integers(0, 10**6))
def test_retry_after_seconds(seconds: int) -> None:
    assert parse_retry_after(str(seconds), now=0.0) == seconds


@given(st.integers(0, 86400), st.floats(1.6e9, 2.0e9))
def test_retry_after_http_date(ahead: int, now: float) -> None:
    when = datetime.fromtimestamp(math.floor(now) + ahead, tz=UTC)
    parsed = parse_retry_after(format_datetime(when, usegmt=True), now)
    assert parsed is not None
    assert ahead - 1 <= parsed <= ahead


@pytest.mark.parametrize("value", [None, "", "soon", "-3", "nan", "Mon, 99 Foo 2020"])
def test_retry_after_garbage_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=0.0) is None


def test_retry_after_in_the_past_means_now() -> None:
    past = format_datetime(datetime.fromtimestamp(1.7e9, tz=UTC), usegmt=True)
    assert parse_retry_after(past, now=1.7e9 + 60) == 0.0


@given(st.floats(0, 1000), st.floats(0, 1000), st.floats(0.1, 120))
def test_attempt_timeout_never_outlives_the_deadline(
    now: float, left: float, configured: float
) -> None:
    timeout = attempt_timeout(now, now + left, POLICY, configured)
    if timeout is None:
        assert min(configured, left - POLICY.deadline_margin_s) < POLICY.min_attempt_timeout_s
    else:
        assert timeout <= configured
        assert now + timeout <= now + left - POLICY.deadline_margin_s + 1e-9


def test_first_attempt_goes_to_the_first_candidate_with_an_instance() -> None:
    req = request()
    assert first_target(req, pools({PRIMARY: ["a"]})) == Target(PRIMARY, "a")
    assert first_target(req, pools({FALLBACK: ["f1"]})) == Target(FALLBACK, "f1")
    assert first_target(req, pools({})) is None


def test_failover_prefers_another_copy_of_the_same_version() -> None:
    live = pools({PRIMARY: ["a", "b"], FALLBACK: ["f1"]})
    decision = decide(request(), failed("a"), 0.0, Random(1), live)
    assert isinstance(decision, Retry)
    assert decision.target == Target(PRIMARY, "b")
    assert not decision.failover


def test_then_the_same_instance_then_the_fallback() -> None:
    live = pools({PRIMARY: ["a"], FALLBACK: ["f1"]})
    req = request()
    again = decide(req, failed("a"), 0.0, Random(1), live)
    assert isinstance(again, Retry) and again.target == Target(PRIMARY, "a")
    fallback = decide(req, failed("a"), 0.1, Random(1), live)
    assert isinstance(fallback, Retry) and fallback.target == Target(FALLBACK, "f1")
    assert fallback.failover


def test_timeouts_skip_the_same_instance() -> None:
    live = pools({PRIMARY: ["a"], FALLBACK: ["f1"]})
    decision = decide(request(), failed("a", Outcome.timeout_first_byte), 0.0, Random(1), live)
    assert isinstance(decision, Retry) and decision.target.candidate == FALLBACK


def test_nothing_after_the_first_byte_reached_the_client() -> None:
    live = pools({PRIMARY: ["a", "b"]})
    last = failed("a", Outcome.conn_reset, bytes_sent_to_client=120)
    decision = decide(request(), last, 0.0, Random(1), live)
    assert decision == Stop(reason="already_streaming", status=None)


def test_client_errors_are_passed_through() -> None:
    live = pools({PRIMARY: ["a", "b"]})
    decision = decide(request(), failed("a", Outcome.http_4xx), 0.0, Random(1), live)
    assert isinstance(decision, Stop) and decision.reason == "not_retryable"
    assert decision.status is None


@pytest.mark.parametrize(
    ("outcome", "reason", "status"),
    [
        (Outcome.http_5xx, "upstream_error", 502),
        (Outcome.stream_error, "upstream_error", 502),
        (Outcome.malformed, "upstream_error", 502),
        (Outcome.timeout_first_byte, "upstream_timeout", 504),
        (Outcome.timeout_connect, "upstream_timeout", 504),
        (Outcome.conn_refused, "no_healthy_instance", 503),
        (Outcome.http_429, "upstream_rate_limited", 429),
    ],
)
def test_typed_give_up_when_attempts_run_out(outcome: Outcome, reason: str, status: int) -> None:
    live = pools({PRIMARY: ["a", "b", "c", "d"]})
    req = request()
    decision: Retry | Stop | None = None
    for name in "abc":
        decision = decide(req, failed(name, outcome), 0.0, Random(1), live)
    assert isinstance(decision, Stop)
    assert (decision.reason, decision.status) == (reason, status)
    if status in (429, 503):
        assert decision.retry_after_s is not None and decision.retry_after_s >= 1


def test_429_fails_over_at_once_and_cools_the_instance_down() -> None:
    live = pools({PRIMARY: ["a", "b"]})
    last = failed("a", Outcome.http_429, retry_after="2")
    decision = decide(request(), last, 0.0, Random(1), live)
    assert isinstance(decision, Retry)
    assert decision.target.instance_id == "b"
    assert decision.cooldown_s == 2.0
    assert decision.delay_s <= POLICY.base_backoff_s


def test_short_retry_after_on_the_only_instance_is_waited_out() -> None:
    live = pools({PRIMARY: ["a"]})
    last = failed("a", Outcome.http_429, retry_after="2")
    decision = decide(request(deadline=60.0), last, 0.0, Random(1), live)
    assert isinstance(decision, Retry)
    assert decision.target.instance_id == "a"
    assert decision.delay_s == 2.0


def test_retry_after_beyond_the_deadline_fails_over_instead_of_waiting() -> None:
    live = pools({PRIMARY: ["a"], FALLBACK: ["f1"]})
    last = failed("a", Outcome.http_429, retry_after="4")
    decision = decide(request(deadline=3.0), last, 0.0, Random(1), live)
    assert isinstance(decision, Retry)
    assert decision.target == Target(FALLBACK, "f1")
    assert decision.delay_s < 1.0


def test_retry_after_beyond_the_deadline_and_no_fallback_is_a_429_with_it() -> None:
    live = pools({PRIMARY: ["a"]})
    last = failed("a", Outcome.http_429, retry_after="30")
    decision = decide(request(deadline=10.0), last, 0.0, Random(1), live)
    assert isinstance(decision, Stop)
    assert (decision.status, decision.retry_after_s) == (429, 30)


def test_no_time_left_is_a_504() -> None:
    live = pools({PRIMARY: ["a", "b"]})
    decision = decide(request(deadline=1.1), failed("a"), 0.9, Random(1), live)
    assert isinstance(decision, Stop)
    assert (decision.reason, decision.status) == ("upstream_timeout", 504)


@given(st.floats(0.5, 200), st.integers(0, 2**16))
def test_every_retry_fits_inside_the_deadline(left: float, seed: int) -> None:
    live = pools({PRIMARY: ["a", "b"], FALLBACK: ["f1"]})
    decision = decide(request(deadline=left), failed("a"), 0.0, Random(seed), live)
    if isinstance(decision, Retry):
        end = decision.delay_s + decision.timeout_s
        assert end <= left - POLICY.deadline_margin_s + 1e-9
        assert decision.timeout_s <= POLICY.attempt_timeout_s


def test_budget_limits_concurrent_retries_like_envoy() -> None:
    budget = RetryBudget(BudgetPolicy(min_per_window=1000))
    budget.request_started(0.0)
    assert [budget.try_acquire(0.0) for _ in range(4)] == [True, True, True, False]
    for _ in range(30):
        budget.request_started(0.0)
    # 31 active requests: 20 % is 6.2, so three more may be in flight.
    assert [budget.try_acquire(0.0) for _ in range(4)] == [True, True, True, False]
    budget.release()
    assert budget.try_acquire(0.0)


def simulate_total_failure(requests: int, rate_per_s: float, instances: int = 6) -> int:
    """Attempts made for `requests` client requests when every upstream attempt fails."""
    budget = RetryBudget()
    rng = Random(42)
    live = pools({PRIMARY: [f"i{k}" for k in range(instances)], FALLBACK: ["f1", "f2"]})
    attempts = 0
    for n in range(requests):
        now = n / rate_per_s
        budget.request_started(now)
        req = RequestRetries(deadline=now + 30.0, plan=(PRIMARY, FALLBACK))
        target = first_target(req, live)
        assert target is not None
        for _ in range(10):  # bounded: max_attempts stops it far earlier
            attempts += 1
            decision = decide(req, AttemptRecord(target, Outcome.http_5xx), now, rng, live, budget)
            if isinstance(decision, Stop):
                break
            target = decision.target
            budget.release()
        budget.request_finished()
    return attempts


def test_total_failure_keeps_attempts_within_1_2x_requests() -> None:
    requests = 10_000
    attempts = simulate_total_failure(requests, rate_per_s=50.0)
    assert attempts <= 1.2 * requests
    # The budget is spent, not hoarded: retries did happen.
    assert attempts > 1.1 * requests


def test_a_quiet_process_can_still_fail_over() -> None:
    # One request per window: the per-window minimum still lets it try another instance.
    budget = RetryBudget()
    live = pools({PRIMARY: ["a", "b"]})
    budget.request_started(0.0)
    req = request()
    decision = decide(req, failed("a"), 0.0, Random(1), live, budget)
    assert isinstance(decision, Retry) and decision.target.instance_id == "b"


def test_refused_connection_is_not_repeated_on_the_same_instance() -> None:
    live = pools({PRIMARY: ["a"], FALLBACK: ["f1"]})
    decision = decide(request(), failed("a", Outcome.conn_refused), 0.0, Random(1), live)
    assert isinstance(decision, Retry) and decision.target == Target(FALLBACK, "f1")
