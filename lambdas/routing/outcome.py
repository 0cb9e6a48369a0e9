"""The one enum of how an upstream attempt ended: upstream clients raise it, passive health
and the breaker count it, the retry decision reads it."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """How one upstream attempt ended, as far as health and retries care."""

    ok = "ok"
    http_4xx = "http_4xx"
    http_5xx = "http_5xx"
    http_429 = "http_429"
    timeout_connect = "timeout_connect"
    timeout_first_byte = "timeout_first_byte"
    timeout_stall = "timeout_stall"
    conn_refused = "conn_refused"
    conn_reset = "conn_reset"
    malformed = "malformed"
    stream_error = "stream_error"
    # The client went away; says nothing about the instance.
    cancelled = "cancelled"

    @property
    def retryable(self) -> bool:
        """Worth another attempt (elsewhere) if nothing has reached the client yet."""
        return self not in _NOT_RETRYABLE

    @property
    def counts_as_failure(self) -> bool:
        """Counts towards ejecting the instance (429 is `overloaded`, counted separately)."""
        return self in _FAILURES

    @property
    def overloaded(self) -> bool:
        return self is Outcome.http_429

    @property
    def is_timeout(self) -> bool:
        return self in _TIMEOUTS

    @property
    def neutral(self) -> bool:
        """Says nothing bad about the instance: it answered, or the client left."""
        return self in (Outcome.ok, Outcome.http_4xx, Outcome.cancelled)


_NOT_RETRYABLE = frozenset({Outcome.ok, Outcome.http_4xx, Outcome.cancelled})
_TIMEOUTS = frozenset({Outcome.timeout_connect, Outcome.timeout_first_byte, Outcome.timeout_stall})
_FAILURES = frozenset(
    {
        Outcome.http_5xx,
        Outcome.timeout_connect,
        Outcome.timeout_first_byte,
        Outcome.timeout_stall,
        Outcome.conn_refused,
        Outcome.conn_reset,
        Outcome.malformed,
        Outcome.stream_error,
    }
)


def classify_status(status: int) -> Outcome:
    """Outcome of an upstream HTTP status (transport errors are classified by the caller)."""
    if status == 429:
        return Outcome.http_429
    if status >= 500:
        return Outcome.http_5xx
    if status >= 400:
        return Outcome.http_4xx
    return Outcome.ok
