"""Issue 5's "Must show", through the running local stack.

An extra instance (a fault-injecting upstream on loopback) registers with a one-time token,
shows up in /admin/instances and heartbeats; when it fails, clients keep getting answers from
the healthy model servers and it is ejected; when its heartbeats stop it goes unhealthy. Reused,
expired and tampered tokens are refused. The instance is deregistered at the end so the shared
stack is left as it was.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import EmbeddedStack
from tests.e2e.conftest import registered_key
from tests.support.fault_upstream import FaultUpstreamHandle, start_fault_upstream

MODEL = "tiny-chat"
LEASE_S = 8.0  # the local stack's lease (MOTHERFLUXER_LEASE_S)


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _wait(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def http(stack: EmbeddedStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def user_key(stack: EmbeddedStack) -> str:
    """A registered key of this module's own, so the shared developer key's limits are spared."""
    return registered_key(stack, "lifecycle")


@pytest.fixture
def extra() -> Iterator[FaultUpstreamHandle]:
    handle = start_fault_upstream(model=MODEL, name="extra")
    yield handle
    handle.stop()


def _mint(stack: EmbeddedStack, http: httpx.Client, ttl_seconds: int = 60) -> str:
    resp = http.post(
        "/admin/registration-tokens",
        json={"model": MODEL, "ttl_seconds": ttl_seconds},
        headers=_bearer(stack.admin_key),
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


def _register(http: httpx.Client, token: str, base_url: str) -> httpx.Response:
    return http.post(
        "/instances/register",
        json={"token": token, "model": MODEL, "kind": "openai", "base_url": base_url},
    )


def _view(stack: EmbeddedStack, http: httpx.Client, instance_id: str) -> dict[str, Any] | None:
    resp = http.get("/admin/instances", headers=_bearer(stack.admin_key))
    assert resp.status_code == 200, resp.text
    return next((i for i in resp.json()["data"] if i["instance_id"] == instance_id), None)


def _tampered(token: str) -> str:
    """The same signature over claims an attacker edited (a later expiry)."""
    prefix, body, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["exp"] = int(claims["exp"]) + 3600
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{prefix}.{forged}.{sig}"


class Heartbeats:
    """Heartbeats the instance every second on a background thread until stopped."""

    def __init__(self, url: str, instance_id: str, credential: str) -> None:
        self._stop = threading.Event()
        self.sent = 0
        self.failed = 0

        def run() -> None:
            with httpx.Client(base_url=url, timeout=5) as client:
                # Bounded: the test stops it long before this many beats.
                for _ in range(300):
                    if self._stop.wait(1.0):
                        return
                    resp = client.post(
                        f"/instances/{instance_id}/heartbeat",
                        json={"in_flight": 0, "ready": True},
                        headers=_bearer(credential),
                    )
                    if resp.status_code == 200:
                        self.sent += 1
                    else:
                        self.failed += 1

        self._thread = threading.Thread(target=run, name="lifecycle-heartbeats", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def test_extra_instance_lifecycle(
    stack: EmbeddedStack, http: httpx.Client, user_key: str, extra: FaultUpstreamHandle
) -> None:
    token = _mint(stack, http)
    reg = _register(http, token, extra.url)
    assert reg.status_code == 201, reg.text
    iid, credential = reg.json()["instance_id"], reg.json()["credential"]
    assert reg.json()["lease_seconds"] == LEASE_S
    beats: Heartbeats | None = None
    try:
        # Registered: the operator sees it, in rotation.
        view = _view(stack, http, iid)
        assert view is not None
        assert view["model"] == MODEL and view["kind"] == "openai"
        assert view["status"] == "healthy" and view["routable"] is True
        first = http.post(f"/instances/{iid}/heartbeat", json={}, headers=_bearer(credential))
        assert first.status_code == 200 and first.json()["status"] == "healthy"
        beats = Heartbeats(stack.url, iid, credential)

        # The token was for one registration only.
        again = _register(http, token, extra.url)
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "token_used"
        # Minted now, used after the heartbeat wait below: long expired by then.
        expiring = _mint(stack, http, ttl_seconds=1)

        # It fails every completion (the connection is cut mid-reply) while its /health still
        # answers, so it is the router's passive checks, not the health checker, that catch it.
        extra.set_fault("drop_mid_stream")
        chat = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hello"}],
            "max_tokens": 4,
        }

        def ejected() -> dict[str, Any] | None:
            resp = http.post("/v1/chat/completions", json=chat, headers=_bearer(user_key))
            assert resp.status_code == 200, resp.text
            assert resp.headers["x-motherfluxer-instance"] != iid
            assert resp.json()["choices"][0]["message"]["content"] is not None
            current = _view(stack, http, iid)
            assert current is not None
            return current if current["breaker_state"] == "open" else None

        view = _wait(ejected, 60, "the failing instance to be ejected")
        assert extra.stats()["faulted"] >= 5
        assert view["ejection_count"] >= 1
        assert view["status"] == "ejected" and view["routable"] is False
        assert beats.sent >= 1 and beats.failed == 0

        # Heartbeats stop: after the lease the health checker marks it unhealthy.
        beats.stop()
        extra.reset()  # its /health keeps answering: the stale heartbeat alone is the cause

        def unhealthy() -> dict[str, Any] | None:
            current = _view(stack, http, iid)
            assert current is not None
            return current if current["stored_status"] == "unhealthy" else None

        view = _wait(unhealthy, LEASE_S + 12, "the silent instance to go unhealthy")
        assert view["status"] == "unhealthy" and view["routable"] is False
        assert view["heartbeat_age_s"] > LEASE_S

        # Expired and tampered tokens are refused, with one answer that reveals nothing.
        expired = _register(http, expiring, extra.url)
        assert expired.status_code == 401
        assert expired.json()["error"]["type"]
        tampered = _register(http, _tampered(_mint(stack, http)), extra.url)
        assert tampered.status_code == 401
        assert tampered.json()["error"]["message"] == expired.json()["error"]["message"]
        assert _register(http, f"{token}x", extra.url).status_code == 401
    finally:
        if beats is not None:
            beats.stop()
        gone = http.delete(f"/instances/{iid}", headers=_bearer(credential))
    assert gone.status_code == 200, gone.text
    assert _view(stack, http, iid) is None
    # Its credential is worthless now.
    late = http.post(f"/instances/{iid}/heartbeat", json={}, headers=_bearer(credential))
    # The same 401 as a wrong credential: a heartbeat does not reveal which ids exist (the
    # model server re-registers on 401 as it did on 404).
    assert late.status_code == 401


def test_clients_never_see_the_extra_instances_token_endpoints_without_the_admin_key(
    http: httpx.Client,
) -> None:
    resp = http.post("/admin/registration-tokens", json={"model": MODEL})
    assert resp.status_code == 401
    forged = http.post(
        "/admin/registration-tokens",
        json={"model": MODEL},
        headers=_bearer("mf_admin_" + uuid.uuid4().hex),
    )
    assert forged.status_code == 401
