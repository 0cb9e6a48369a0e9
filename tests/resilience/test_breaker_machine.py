"""Hypothesis drives one breaker through random outcomes, probes and clock jumps, as a router
process would, and checks the promises of the breaker after every step."""

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from routing.breaker import HealthState, admit, phase, record_result
from routing.outlier import OutlierPolicy
from routing.retry import Outcome

POLICY = OutlierPolicy(max_probes=2, probe_timeout_s=5.0)
outcomes = st.sampled_from(list(Outcome))
GOOD = (Outcome.ok, Outcome.http_4xx)
# Ejection times are float sums of clock readings; compare them to within rounding.
EPS = 1e-6


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = HealthState()
        self.now = 1000.0
        # Start times of this process's probes still in flight.
        self.probes: list[float] = []
        self.last_duration = 0.0

    @rule(dt=st.floats(0, 400, allow_nan=False))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(outcome=outcomes)
    def request(self, outcome: Outcome) -> None:
        before = self.state
        current = phase(before, self.now, POLICY)
        decision = admit(before, self.now, len(self.probes), POLICY)
        if current == "ejected":
            assert not decision.allowed, "an open breaker admitted before its ejection ended"
            assert before.ejected_until > self.now
            return
        if not decision.allowed:
            return
        if decision.is_probe:
            assert decision.probe_timeout is not None and 0 < decision.probe_timeout
            assert decision.probe_timeout <= POLICY.probe_timeout_s
            if decision.claim is not None:
                self.state = decision.claim
            self.probes.append(self.state.breaker_opened_at)
            return
        assert current == "closed"
        self.state = record_result(before, outcome, self.now, POLICY)
        if outcome is Outcome.ok:
            assert self.state.consecutive_failures == 0
        self._check_ejection(before)

    @precondition(lambda self: self.probes)
    @rule(outcome=outcomes)
    def finish_probe(self, outcome: Outcome) -> None:
        started = self.probes.pop(0)
        before = self.state
        was = phase(before, self.now, POLICY)
        event(f"probe finished while {was}")
        self.state = record_result(before, outcome, self.now, POLICY, started_at=started)
        if started < before.breaker_opened_at or was in ("closed", "ejected"):
            return
        if outcome in GOOD:
            assert self.state.breaker_state == "closed"
            assert self.state.consecutive_failures == 0
        elif outcome.counts_as_failure:
            assert self.state.breaker_state == "open"
            assert self.state.ejection_count == before.ejection_count + 1
        self._check_ejection(before)

    @rule()
    def probes_time_out(self) -> None:
        # The router cancels a probe at its timeout and reports it as a timeout.
        expired = [p for p in self.probes if self.now >= p + POLICY.probe_timeout_s]
        for started in expired:
            self.probes.remove(started)
            self.state = record_result(
                self.state, Outcome.timeout_first_byte, self.now, POLICY, started_at=started
            )

    def _check_ejection(self, before: HealthState) -> None:
        after = self.state
        if after.breaker_state == "open" and after != before:
            duration = after.ejected_until - after.breaker_opened_at
            assert 0 < duration <= POLICY.max_ejection_s + EPS
            if before.breaker_state != "closed":
                # Re-opened after a failed probe: never shorter than the last ejection.
                assert duration >= self.last_duration - EPS
            self.last_duration = duration

    @invariant()
    def probes_are_bounded(self) -> None:
        assert len(self.probes) <= POLICY.max_probes

    @invariant()
    def open_means_not_admitted(self) -> None:
        if self.state.breaker_state == "open" and self.now < self.state.ejected_until:
            assert not admit(self.state, self.now, 0, POLICY).allowed

    @invariant()
    def counters_are_sane(self) -> None:
        assert self.state.consecutive_failures >= 0
        assert self.state.ejection_count >= 0
        if self.state.breaker_state != "closed":
            assert self.state.ejection_count >= 1


BreakerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=60, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
