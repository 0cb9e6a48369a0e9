"""Which upstream outcomes count against an instance and which are worth another attempt."""

import pytest

from routing.retry import Outcome, classify_status

FAILURES = {
    Outcome.http_5xx,
    Outcome.timeout_connect,
    Outcome.timeout_first_byte,
    Outcome.timeout_stall,
    Outcome.conn_refused,
    Outcome.conn_reset,
    Outcome.malformed,
    Outcome.stream_error,
}


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_is_classified(outcome: Outcome) -> None:
    assert outcome.counts_as_failure == (outcome in FAILURES)
    # Every failure and 429 is worth trying elsewhere; answers and client departures are not.
    assert outcome.retryable == (outcome in FAILURES or outcome is Outcome.http_429)


def test_429_is_overload_not_failure() -> None:
    assert Outcome.http_429.overloaded
    assert not Outcome.http_429.counts_as_failure
    assert Outcome.http_429.retryable


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ok),
        (204, Outcome.ok),
        (400, Outcome.http_4xx),
        (401, Outcome.http_4xx),
        (404, Outcome.http_4xx),
        (429, Outcome.http_429),
        (500, Outcome.http_5xx),
        (502, Outcome.http_5xx),
        (503, Outcome.http_5xx),
        (504, Outcome.http_5xx),
    ],
)
def test_status_classification(status: int, outcome: Outcome) -> None:
    assert classify_status(status) is outcome


def test_client_errors_do_not_count_or_retry() -> None:
    assert not Outcome.http_4xx.counts_as_failure
    assert not Outcome.http_4xx.retryable
    assert Outcome.http_4xx.neutral
