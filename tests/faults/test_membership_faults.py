"""Faults in the instance set itself: an instance deregistered while it serves a request, an
instance whose heartbeats stop, and every instance of a model ejected."""

from __future__ import annotations

import threading
import time

from tests.faults.conftest import MODEL, Reply, RigFactory, add_ranked, completions
from tests.support.fault_upstream import FaultUpstreamHandle

Upstreams = dict[str, FaultUpstreamHandle]


def _wait_for(check, timeout_s: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_instance_deregistered_mid_request(make_rig: RigFactory, upstreams: Upstreams) -> None:
    rig = make_rig(first_byte_timeout_s=5.0)
    add_ranked(rig, upstreams, "bad", "good")
    # `bad` is healthy but slow, so the request is still in flight when it is deregistered.
    upstreams["bad"].set_fault("slow", latency_ms=800)
    result: list[Reply] = []
    worker = threading.Thread(target=lambda: result.append(rig.chat()), daemon=True)
    worker.start()
    _wait_for(lambda: completions(upstreams["bad"]) == 1, what="the slow request to arrive")

    gone = rig.http.delete("/instances/bad", headers=rig.harness.admin)
    assert gone.status_code == 200 and gone.json()["deregistered"] is True
    worker.join(timeout=20)
    assert not worker.is_alive()

    # The request already on its way completes normally.
    (reply,) = result
    assert reply.status == 200 and reply.instance == "bad"
    assert "Hello from bad" in reply.text()
    # The instance is gone and stays gone: finishing its request must not write it back.
    assert "bad" not in rig.instances()
    time.sleep(0.3)
    assert "bad" not in rig.instances()
    after = [rig.chat() for _ in range(3)]
    assert [r.status for r in after] == [200] * 3
    assert {r.instance for r in after} == {"good"}
    assert all(r.headers["x-motherfluxer-attempts"] == "1" for r in after)
    assert completions(upstreams["bad"]) == 1
    records = rig.usage_records()
    assert records[reply.request_id]["instance_id"] == "bad"
    assert {r["status"] for r in records.values()} == {200}


def test_stale_heartbeat_takes_an_instance_out_until_it_heartbeats(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    lease_s = 1.5
    rig = make_rig(strategy="round_robin", lease_s=lease_s)
    rig.harness.add_instance(MODEL, upstreams["good"].url, instance_id="good")
    token = rig.harness.signer.issue_registration_token(MODEL, 60)
    reg = rig.http.post(
        "/instances/register",
        json={"token": token, "model": MODEL, "kind": "openai", "base_url": upstreams["bad"].url},
    )
    assert reg.status_code == 201, reg.text
    iid, credential = reg.json()["instance_id"], reg.json()["credential"]
    assert reg.json()["lease_seconds"] == lease_s
    beat = {"Authorization": f"Bearer {credential}"}
    assert rig.http.post(f"/instances/{iid}/heartbeat", json={}, headers=beat).status_code == 200

    fresh = [rig.chat() for _ in range(2)]
    assert {r.instance for r in fresh} == {iid, "good"}  # round robin uses both

    # No more heartbeats: after the lease the instance is unhealthy and gets no traffic.
    view = rig.wait_instance(iid, lambda v: v["routable"] is False, timeout_s=lease_s + 5)
    assert view["status"] == "unhealthy" and view["status_reason"] == "stale heartbeat"
    assert view["heartbeat_age_s"] > lease_s
    served = completions(upstreams["bad"])
    stale = [rig.chat() for _ in range(3)]
    assert [r.status for r in stale] == [200] * 3
    assert {r.instance for r in stale} == {"good"}
    assert all(r.headers["x-motherfluxer-attempts"] == "1" for r in stale)
    assert completions(upstreams["bad"]) == served

    # One heartbeat brings it back into rotation.
    assert rig.http.post(f"/instances/{iid}/heartbeat", json={}, headers=beat).status_code == 200
    view = rig.wait_instance(iid, lambda v: v["routable"] is True)
    assert view["status"] == "healthy"
    records = rig.usage_records()
    assert {r["status"] for r in records.values()} == {200}


def test_all_instances_ejected_fails_fast_with_retry_after(
    make_rig: RigFactory, upstreams: Upstreams
) -> None:
    rig = make_rig()
    add_ranked(rig, upstreams, "bad", "good")
    for h in upstreams.values():
        h.set_fault("http_500")

    # Fail until both breakers are open (5 failures each; the second one is ejected despite
    # the 10 % cap because no healthy instance is left to protect).
    failing: list[Reply] = []
    for _ in range(20):
        failing.append(rig.chat())
        views = rig.instances()
        if all(views[n]["breaker_state"] == "open" for n in ("bad", "good")):
            break
    assert all(r.status in (502, 503) for r in failing), [r.status for r in failing]
    for r in failing:
        assert set(r.error) == {"type", "message", "param", "code"}
    views = rig.instances()
    for name in ("bad", "good"):
        assert views[name]["breaker_state"] == "open", views[name]
        assert views[name]["ejection_count"] == 1
        assert views[name]["status"] == "ejected" and views[name]["routable"] is False

    calls = sum(completions(h) for h in upstreams.values())
    fast = [rig.chat() for _ in range(3)]
    for reply in fast:
        assert reply.status == 503, reply.body
        assert reply.error["type"] and reply.error["code"]
        assert int(reply.headers["retry-after"]) >= 1
        assert "0 of 2 instances in rotation" in reply.headers["x-motherfluxer-route-reason"]
        # Retry-After says when the first ejection ends (the first one lasts 30 s).
        assert 20 <= int(reply.headers["retry-after"]) <= 30
        assert reply.elapsed_s < 1.0  # no upstream call, no timeout waited out
    assert sum(completions(h) for h in upstreams.values()) == calls
    # Requests that reached an instance are on the ledger with the status the client saw;
    # the fast 503s were refused before admission (no instance to try) and cost nothing.
    records = rig.usage_records([r.request_id for r in failing])
    assert all(records[r.request_id]["status"] == r.status for r in failing)
    assert rig.ledger_rows([r.request_id for r in fast]) == []
