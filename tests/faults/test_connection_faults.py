"""Transport faults before any reply: connection refused, connect timeout, first-byte timeout.

Nothing has reached the client yet, so each one fails over to the healthy instance; the failing
instance is charged one failure; every request has exactly one usage record.
"""

from __future__ import annotations

from tests.faults.conftest import RigFactory, add_ranked, completions
from tests.faults.test_http_faults import assert_answered_by_good, assert_charged_once
from tests.support.fault_upstream import FaultUpstreamHandle

Upstreams = dict[str, FaultUpstreamHandle]


def test_connection_refused_fails_over(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("refuse")

    reply = rig.chat()

    assert_answered_by_good(reply, attempts=2)
    assert completions(upstreams["bad"]) == 0  # it never got the request
    assert_charged_once(rig)
    assert rig.usage_records()[reply.request_id]["status"] == 200


def test_connect_timeout_fails_over_after_the_connect_timeout(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig(connect_timeout_s=0.5)
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("connect_timeout")

    reply = rig.chat()

    assert_answered_by_good(reply, attempts=2)
    # It waited for the handshake (0.5 s), not for the whole request timeout (15 s).
    assert 0.4 < reply.elapsed_s < 10
    assert completions(upstreams["bad"]) == 0
    assert_charged_once(rig)
    assert rig.usage_records()[reply.request_id]["status"] == 200


def test_first_byte_timeout_fails_over_buffered_and_streamed(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig(first_byte_timeout_s=0.6)
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("first_byte_timeout", delay_s=20)

    buffered = rig.chat()
    assert_answered_by_good(buffered, attempts=2)
    assert 0.5 < buffered.elapsed_s < 10

    # A stream whose headers never come is equally retryable: the client gets a whole stream.
    streamed = rig.stream()
    assert streamed.status == 200
    assert streamed.instance == "good"
    assert streamed.headers["x-motherfluxer-attempts"] == "2"
    assert streamed.done and "Hello from good" in streamed.text()
    assert not any(isinstance(e, dict) and "error" in e for e in streamed.events)

    assert completions(upstreams["bad"]) == 2
    bad = rig.wait_instance("bad", lambda v: v["consecutive_failures"] == 2)
    assert bad["breaker_state"] == "closed" and bad["routable"] is True
    records = rig.usage_records()
    assert {r["status"] for r in records.values()} == {200}
    assert {r["instance_id"] for r in records.values()} == {"good"}


def test_every_instance_refusing_is_a_503_with_retry_after(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    # One retry engine: nobody listening anywhere reads as "no healthy instance" (503 and
    # Retry-After, as routing.retry decides), not as a failed answer (502).
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    for handle in upstreams.values():
        handle.set_fault("refuse")

    reply = rig.chat()

    assert reply.status == 503, reply.body
    assert reply.error["code"] == "no_healthy_instance"
    assert int(reply.headers["retry-after"]) >= 1
    assert reply.headers["x-motherfluxer-attempts"] == "2"
    assert rig.usage_records()[reply.request_id]["status"] == 503
