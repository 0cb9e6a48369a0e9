"""Clients that hang up: every admitted request still ends in the ledger exactly once, and the
router's per-process accounting (overload gate, instance load) returns to zero."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.faults.conftest import MODEL, RigFactory, add_ranked
from tests.support.fault_upstream import FaultUpstreamHandle


@pytest.mark.parametrize("fault", ["slow", "stall_stream"])
def test_streams_abandoned_by_the_client_are_accounted_for(
    make_rig: RigFactory, upstreams: dict[str, FaultUpstreamHandle], fault: str
) -> None:
    rig = make_rig(stall_timeout_s=5.0)
    add_ranked(rig, upstreams, "good")
    # slow: the whole answer may be sent before the hang-up is noticed; stall_stream: the
    # client leaves while the instance still owes it the rest of the stream.
    upstreams["good"].set_fault(fault, **({"latency_ms": 50} if fault == "slow" else {}))
    sent: list[str] = []
    for i in range(8):
        rid = f"hangup-{i}-{time.monotonic_ns()}"
        sent.append(rid)
        with (
            httpx.Client(base_url=rig.harness.url, timeout=10) as client,
            client.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "hi"}],
                    "max_tokens": 16,
                    "stream": True,
                },
                headers={"Authorization": f"Bearer {rig.key}", "x-request-id": rid},
            ) as resp,
        ):
            assert resp.status_code == 200
            # Hang up after the headers, before reading the body.
    rig.sent.extend(sent)
    rows = rig.usage_records(sent)
    statuses = {row["status"] for row in rows.values()}
    assert statuses <= {200, 499}
    if fault == "stall_stream":
        assert statuses == {499}, "a stream the client left is recorded as such"

    app = rig.harness._server.config.app
    gate = app.state.policy.service.gate
    store = app.state.services.store
    deadline = time.monotonic() + 5
    while (gate.in_flight or store.local_in_flight("good")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gate.in_flight == 0, "every admitted request left the overload gate"
    assert store.local_in_flight("good") == 0, "the instance's in-flight count returned to zero"
