"""Breaker transitions a user of the router would notice: when an instance is taken out, for
how long, how it comes back, and how two router processes agree on its state."""

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing.breaker import HealthState, admit, merge, phase, record_result
from routing.instances import Instance
from routing.outlier import OutlierPolicy, ejection_duration
from routing.retry import Outcome

POLICY = OutlierPolicy()


def fail(state: HealthState, times: int, now: float, outcome: Outcome = Outcome.http_5xx):
    for _ in range(times):
        state = record_result(state, outcome, now, POLICY)
    return state


def test_five_consecutive_failures_eject_for_base_time() -> None:
    state = fail(HealthState(), 4, now=100.0)
    assert state.breaker_state == "closed"
    assert state.consecutive_failures == 4
    state = fail(state, 1, now=100.0)
    assert state.breaker_state == "open"
    assert state.ejection_count == 1
    assert state.ejected_until == 130.0
    assert not admit(state, 129.9).allowed
    assert admit(state, 129.9).retry_after is not None


def test_success_resets_the_run() -> None:
    state = fail(HealthState(), 4, now=1.0)
    state = record_result(state, Outcome.ok, 1.0)
    state = fail(state, 4, now=1.0)
    assert state.breaker_state == "closed"
    assert state.consecutive_failures == 4


def test_client_errors_neither_count_nor_reset() -> None:
    state = fail(HealthState(), 3, now=1.0)
    for _ in range(20):
        state = record_result(state, Outcome.http_4xx, 1.0)
    assert state.consecutive_failures == 3
    assert state.breaker_state == "closed"


def test_429_ejects_only_when_it_keeps_coming() -> None:
    state = fail(HealthState(), 9, now=1.0, outcome=Outcome.http_429)
    assert state.breaker_state == "closed"
    state = fail(state, 1, now=1.0, outcome=Outcome.http_429)
    assert state.breaker_state == "open"


def test_half_open_admits_one_probe_with_its_own_timeout() -> None:
    state = fail(HealthState(), 5, now=0.0)
    first = admit(state, 30.0, probes_in_flight=0)
    assert first.allowed and first.is_probe
    assert first.probe_timeout == POLICY.probe_timeout_s
    assert first.claim is not None and first.claim.breaker_state == "half_open"
    # This process already has its probe out; another process sees the claim.
    assert not admit(state, 30.0, probes_in_flight=1).allowed
    assert not admit(first.claim, 31.0, probes_in_flight=0).allowed


def test_probe_success_closes_and_failure_reopens_for_longer() -> None:
    state = fail(HealthState(), 5, now=0.0)
    claim = admit(state, 30.0).claim
    assert claim is not None
    closed = record_result(claim, Outcome.ok, 31.0)
    assert closed.breaker_state == "closed" and closed.consecutive_failures == 0
    reopened = record_result(claim, Outcome.timeout_first_byte, 31.0)
    assert reopened.breaker_state == "open"
    assert reopened.ejection_count == 2
    assert reopened.ejected_until == 31.0 + 60.0


def test_hung_probe_does_not_keep_the_breaker_open_forever() -> None:
    state = fail(HealthState(), 5, now=0.0)
    claim = admit(state, 30.0).claim
    assert claim is not None
    later = 30.0 + POLICY.probe_timeout_s
    assert phase(claim, later) == "probe_ready"
    again = admit(claim, later, probes_in_flight=0)
    assert again.allowed and again.is_probe


def test_ejection_time_grows_and_is_capped() -> None:
    state = fail(HealthState(), 5, now=0.0)
    durations = [state.ejected_until]
    for _ in range(15):
        now = state.ejected_until
        claim = admit(state, now).claim
        assert claim is not None
        state = record_result(claim, Outcome.conn_refused, now)
        durations.append(state.ejected_until - state.breaker_opened_at)
    assert durations[:4] == pytest.approx([30.0, 60.0, 90.0, 120.0])
    assert max(durations) == pytest.approx(POLICY.max_ejection_s)
    assert all(b >= a - 1e-6 for a, b in itertools.pairwise(durations))


def test_old_ejections_are_forgiven_over_time() -> None:
    state = HealthState(breaker_state="closed", ejection_count=4, ejected_until=1000.0)
    soon = fail(state, 5, now=1010.0)
    assert soon.ejected_until - 1010.0 == ejection_duration(5)
    much_later = fail(state, 5, now=1000.0 + 3 * POLICY.ejection_decay_s)
    assert much_later.ejection_count == 2


def test_late_results_from_before_the_ejection_are_ignored() -> None:
    state = fail(HealthState(), 5, now=50.0)
    late = record_result(state, Outcome.ok, 80.0, started_at=49.0)
    assert late == state
    during = record_result(state, Outcome.http_5xx, 60.0)
    assert during == state


def test_cap_refusal_leaves_instance_closed_but_suspect() -> None:
    state = fail(HealthState(), 4, now=1.0)
    state = record_result(state, Outcome.http_5xx, 1.0, may_eject=False)
    assert state.breaker_state == "closed"
    assert state.consecutive_failures == 5


def test_state_round_trips_through_instance() -> None:
    inst = Instance("i-1", "m", "v1", "openai", "http://127.0.0.1:1", rev=7)
    state = fail(HealthState.of(inst), 5, now=10.0)
    stored = state.applied_to(inst)
    assert stored.rev == 7
    assert stored.breaker_state == "open"
    assert not stored.is_routable(now=11.0)
    assert HealthState.of(stored) == state


def test_reapplying_an_event_after_a_lost_race_is_harmless() -> None:
    # Two processes saw the fifth failure; the second re-reads the stored (open) state and
    # re-applies its event: the ejection is not repeated or extended.
    stored = fail(HealthState(), 5, now=10.0)
    assert record_result(stored, Outcome.http_5xx, 10.5) == stored
    closed = record_result(admit(stored, 40.0).claim, Outcome.ok, 41.0)
    assert record_result(closed, Outcome.ok, 41.5) == closed


states = st.builds(
    HealthState,
    breaker_state=st.sampled_from(["closed", "open", "half_open"]),
    breaker_opened_at=st.sampled_from([0.0, 10.0, 20.0]),
    consecutive_failures=st.integers(0, 12),
    ejection_count=st.integers(0, 5),
    ejected_until=st.sampled_from([0.0, 40.0, 80.0]),
)


@given(states, states)
def test_merge_is_commutative(a: HealthState, b: HealthState) -> None:
    assert merge(a, b) == merge(b, a)


@given(states, states, states)
def test_merge_is_associative(a: HealthState, b: HealthState, c: HealthState) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(states)
def test_merge_is_idempotent(a: HealthState) -> None:
    assert merge(a, a) == a


@given(states, st.sampled_from(list(Outcome)), st.floats(0, 500))
def test_transitions_win_any_merge_with_the_state_they_came_from(
    a: HealthState, outcome: Outcome, dt: float
) -> None:
    now = max(a.breaker_opened_at, a.ejected_until) + dt
    after = record_result(a, outcome, now)
    if after.breaker_state != a.breaker_state or after.breaker_opened_at != a.breaker_opened_at:
        assert merge(a, after) == after
        assert merge(after, a) == after
