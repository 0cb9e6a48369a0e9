"""HTTP-status faults (500, 502, 503 and 429 with Retry-After): the client still gets a 200 from
the healthy instance, the failing one is charged for it, and each request has one usage record.

The `cost` strategy makes the router try `bad` first whenever it is eligible (see `add_ranked`).
"""

from __future__ import annotations

from tests.faults.conftest import Reply, Rig, RigFactory, add_ranked, completions
from tests.support.fault_upstream import FaultUpstreamHandle

Upstreams = dict[str, FaultUpstreamHandle]


def assert_answered_by_good(reply: Reply, attempts: int) -> None:
    assert reply.status == 200, reply.body
    assert reply.instance == "good"
    assert reply.headers["x-motherfluxer-attempts"] == str(attempts)
    assert "Hello from good" in reply.text()
    assert reply.body["model"] == "alpha"


def assert_charged_once(rig: Rig) -> dict:
    bad = rig.wait_instance("bad", lambda v: v["consecutive_failures"] == 1)
    assert bad["breaker_state"] == "closed" and bad["ejection_count"] == 0
    assert bad["stored_status"] == "healthy"
    good = rig.instances()["good"]
    assert good["consecutive_failures"] == 0 and good["breaker_state"] == "closed"
    return bad


def test_http_500_fails_over_and_charges_the_instance(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("http_500")

    reply = rig.chat()

    assert_answered_by_good(reply, attempts=2)
    assert completions(upstreams["bad"]) == 1
    bad = assert_charged_once(rig)
    assert bad["status"] == "healthy" and bad["routable"] is True
    records = rig.usage_records()
    assert records[reply.request_id]["status"] == 200
    assert records[reply.request_id]["instance_id"] == "good"


def test_http_502_five_in_a_row_ejects_the_instance(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("http_502")

    replies = [rig.chat() for _ in range(5)]
    for reply in replies:
        assert_answered_by_good(reply, attempts=2)
    bad = rig.wait_instance("bad", lambda v: v["breaker_state"] == "open")
    assert bad["ejection_count"] == 1
    assert bad["status"] == "ejected" and bad["routable"] is False
    assert bad["ejected_until"] is not None

    # Ejected: the next request goes straight to the healthy instance, no wasted attempt.
    after = rig.chat()
    assert_answered_by_good(after, attempts=1)
    assert completions(upstreams["bad"]) == 5
    records = rig.usage_records()
    assert {r["status"] for r in records.values()} == {200}
    assert len(records) == 6


def test_http_503_with_retry_after_fails_over_and_cools_the_instance_down(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("http_503", retry_after="30")

    first = rig.chat()
    assert_answered_by_good(first, attempts=2)
    assert_charged_once(rig)

    # The instance asked for 30 s of peace: the router keeps away from it meanwhile.
    later = [rig.chat() for _ in range(3)]
    for reply in later:
        assert_answered_by_good(reply, attempts=1)
    assert completions(upstreams["bad"]) == 1
    records = rig.usage_records()
    assert {r["status"] for r in records.values()} == {200}


def test_http_429_with_retry_after_fails_over_and_backs_off(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault("http_429", retry_after="30")

    first = rig.chat()
    assert_answered_by_good(first, attempts=2)
    # Back-pressure counts into the failure run but does not eject on its own.
    assert_charged_once(rig)

    later = [rig.chat() for _ in range(3)]
    for reply in later:
        assert_answered_by_good(reply, attempts=1)
    assert completions(upstreams["bad"]) == 1
    records = rig.usage_records()
    assert [records[r.request_id]["instance_id"] for r in [first, *later]] == ["good"] * 4


def test_http_429_from_the_only_instance_reaches_the_client_with_retry_after(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad")
    upstreams["bad"].set_fault("http_429", retry_after="7")

    reply = rig.chat()

    assert reply.status == 429
    assert reply.error["type"] == "rate_limit_error"
    assert int(reply.headers["retry-after"]) >= 7
    assert "127.0.0.1" not in str(reply.body)  # no internal address leaks
    records = rig.usage_records()
    assert records[reply.request_id]["status"] == 429
