"""Faults inside a 200 SSE stream: stalled, dropped mid-stream, malformed SSE, error event.

After the first event has reached the client the router must not retry (that would repeat or
splice content): the client sees the chunks it got, then one error event and no `[DONE]`.
Before the first event nothing has reached the client, so the router fails over and the client
gets a whole stream from the healthy instance. Either way the instance is charged and the
request has exactly one usage record.
"""

from __future__ import annotations

import pytest

from tests.faults.conftest import Reply, Rig, RigFactory, add_ranked, completions
from tests.support.fault_upstream import FaultUpstreamHandle

Upstreams = dict[str, FaultUpstreamHandle]

# mode -> the status the usage record carries for a stream cut after its first bytes.
AFTER_FIRST_BYTES = {
    "stall_stream": 504,
    "drop_mid_stream": 502,
    "malformed_sse": 502,
    "error_in_stream": 502,
}


def assert_cut_with_error_event(reply: Reply) -> None:
    assert reply.status == 200  # the headers were already sent when the instance broke
    assert reply.instance == "bad"
    assert reply.headers["x-motherfluxer-attempts"] == "1"
    chunks = [e for e in reply.events if isinstance(e, dict) and "choices" in e]
    errors = [e for e in reply.events if isinstance(e, dict) and "error" in e]
    assert len(chunks) == 2, reply.events  # what the instance sent before it broke, once
    assert "Hello from bad" in reply.text()
    assert len(errors) == 1 and reply.events[-1] is errors[0], reply.events
    err = errors[0]["error"]
    assert set(err) == {"type", "message", "param", "code"}
    assert "127.0.0.1" not in err["message"]
    assert not reply.done
    # Nothing that is not JSON may reach the client: the OpenAI SDK would choke on it.
    assert all(isinstance(e, dict) for e in reply.events), reply.events


def assert_whole_stream_from_good(reply: Reply) -> None:
    assert reply.status == 200
    assert reply.instance == "good"
    assert reply.headers["x-motherfluxer-attempts"] == "2"
    assert reply.done and "Hello from good" in reply.text()
    assert all(isinstance(e, dict) and "error" not in e for e in reply.events), reply.events


def _run(rig: Rig, upstreams: Upstreams, mode: str, **opts: object) -> None:
    bad = upstreams["bad"]

    bad.set_fault(mode, count=1, chunks=2, **opts)
    cut = rig.stream()
    assert_cut_with_error_event(cut)
    # Charged: it answered (ok at the first byte), then failed, so the run is one failure.
    view = rig.wait_instance("bad", lambda v: v["consecutive_failures"] == 1)
    assert view["breaker_state"] == "closed"

    bad.set_fault(mode, count=1, chunks=0, **opts)
    whole = rig.stream()
    assert_whole_stream_from_good(whole)
    view = rig.wait_instance("bad", lambda v: v["consecutive_failures"] == 2)
    assert view["breaker_state"] == "closed" and view["ejection_count"] == 0

    assert completions(upstreams["bad"]) == 2
    assert completions(upstreams["good"]) == 1
    records = rig.usage_records()
    assert records[cut.request_id]["status"] == AFTER_FIRST_BYTES[mode]
    assert records[cut.request_id]["instance_id"] == "bad"
    assert records[whole.request_id]["status"] == 200
    assert records[whole.request_id]["instance_id"] == "good"


def test_stalled_stream(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig(first_byte_timeout_s=0.6, stall_timeout_s=0.6)
    add_ranked(rig, upstreams, "bad", "good")
    _run(rig, upstreams, "stall_stream", delay_s=20)


def test_connection_dropped_mid_stream(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    _run(rig, upstreams, "drop_mid_stream")


def test_malformed_sse(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    _run(rig, upstreams, "malformed_sse")


def test_error_event_inside_a_200_stream(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    _run(rig, upstreams, "error_in_stream")


@pytest.mark.parametrize("mode", ["malformed_sse", "error_in_stream"])
def test_broken_buffered_answer_fails_over(
    make_rig: RigFactory, upstreams: Upstreams, mode: str
) -> None:
    """The same faults without streaming: a 200 whose body is garbage or an error object."""
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    upstreams["bad"].set_fault(mode)

    reply = rig.chat()

    assert reply.status == 200, reply.body
    assert reply.instance == "good" and "Hello from good" in reply.text()
    rig.wait_instance("bad", lambda v: v["consecutive_failures"] == 1)
    assert rig.usage_records()[reply.request_id]["status"] == 200
