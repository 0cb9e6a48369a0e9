"""Instance strategies and version rollouts changed at run time, seen through HTTP (issue 4).

Every change here goes through the admin API of the running local stack and is undone in a
`finally`, because the stack is shared with other test modules.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from devstack.procs import Child
from devstack.stack import EmbeddedStack
from routing.catalog import STRATEGIES as ALL_STRATEGIES
from tests.e2e.conftest import registered_key

MODEL = "tiny-chat"
STRATEGIES = list(ALL_STRATEGIES)
MESSAGES = [{"role": "user", "content": "Hello there, how are you today?"}]


def chat(client: httpx.Client, max_tokens: int = 4, **extra: Any) -> httpx.Response:
    resp = client.post(
        "/v1/chat/completions",
        json={"model": MODEL, "messages": MESSAGES, "max_tokens": max_tokens, **extra},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-model"] == MODEL
    return resp


def routable(http: httpx.Client, version: str | None = None) -> set[str]:
    resp = http.get(f"/models/{MODEL}")
    assert resp.status_code == 200, resp.text
    return {
        i["instance_id"]
        for i in resp.json()["instances"]
        if i["routable"] and (version is None or i["version"] == version)
    }


def wait_routable(http: httpx.Client, version: str, count: int, timeout_s: float = 30) -> set[str]:
    """Routable instances of `version`, once there are `count` (a late heartbeat heals)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ids = routable(http, version)
        if len(ids) >= count or time.monotonic() > deadline:
            assert len(ids) == count, ids
            return ids
        time.sleep(0.2)


# -- strategies --------------------------------------------------------------------------------


@pytest.fixture
def set_strategy(admin: httpx.Client) -> Iterator[Any]:
    def put(strategy: str | None) -> None:
        resp = admin.put(f"/admin/models/{MODEL}/strategy", json={"strategy": strategy})
        assert resp.status_code == 200, resp.text
        if strategy is not None:
            assert resp.json()["strategy"] == strategy

    try:
        yield put
    finally:
        put(None)
        # The configured strategy is back for the next module.
        shown = admin.get("/admin/rollouts").json()["strategies"][MODEL]
        assert shown == "least_outstanding"


def _spread(http: httpx.Client, rounds: int = 4, width: int = 6) -> set[str]:
    """Instances used by bursts of concurrent requests, until both show up (bounded rounds)."""
    used: set[str] = set()
    with ThreadPoolExecutor(max_workers=width) as pool:
        for _ in range(rounds):
            # Longer answers keep requests in flight together, so load-aware picks see load.
            responses = list(pool.map(lambda _: chat(http, max_tokens=24), range(width)))
            used |= {r.headers["x-motherfluxer-instance"] for r in responses}
            if len(used) >= 2:
                break
    return used


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_routes_only_to_healthy_instances(
    http: httpx.Client, set_strategy: Any, strategy: str
) -> None:
    healthy = wait_routable(http, "v1", 2)
    set_strategy(strategy)

    used = [chat(http).headers["x-motherfluxer-instance"] for _ in range(6)]
    assert set(used) <= healthy

    if strategy == "round_robin":
        # Strict alternation between the two instances, whatever the starting point.
        assert all(a != b for a, b in itertools.pairwise(used)), used
        assert Counter(used) == Counter({i: 3 for i in healthy})
    if strategy in ("least_outstanding", "power_of_two"):
        assert _spread(http) == healthy


def test_unknown_strategy_is_rejected(admin: httpx.Client) -> None:
    resp = admin.put(f"/admin/models/{MODEL}/strategy", json={"strategy": "fastest"})
    assert resp.status_code in (400, 422)
    assert "error" in resp.json()
    assert admin.get("/admin/rollouts").json()["strategies"][MODEL] == "least_outstanding"


def test_strategy_change_needs_the_admin_key(http: httpx.Client) -> None:
    resp = http.put(f"/admin/models/{MODEL}/strategy", json={"strategy": "round_robin"})
    assert resp.status_code in (401, 403)


# -- version rollouts --------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def v2_child(stack: EmbeddedStack) -> Iterator[Child]:
    """A tiny-chat v2 model server, started with the module so it boots while strategies run.

    Until a rollout gives v2 a weight it gets no traffic (unknown versions start at weight 0),
    so the strategy tests only ever see the v1 instances.
    """
    child = stack.start_model_server(MODEL, "v2", 9)
    try:
        yield child
    finally:
        child.stop()
        if child in stack.model_children:
            stack.model_children.remove(child)


@pytest.fixture
def v2_server(v2_child: Child, http: httpx.Client, admin: httpx.Client) -> Iterator[None]:
    """The v2 instance routable next to the two v1s; the weights are restored after."""
    try:
        deadline = time.monotonic() + 120
        while not routable(http, "v2"):
            assert v2_child.alive(), f"v2 model server exited; see {v2_child.log_path}"
            assert time.monotonic() < deadline, "v2 instance never became routable"
            time.sleep(0.3)
        yield
    finally:
        resp = admin.put(f"/admin/models/{MODEL}/rollout", json={"weights": {"v1": 100}})
        assert resp.status_code == 200, resp.text
        assert resp.json()["weights"].get("v1") == 100


def _rollout(admin: httpx.Client, change: dict[str, Any]) -> dict[str, float]:
    resp = admin.put(f"/admin/models/{MODEL}/rollout", json=change)
    assert resp.status_code == 200, resp.text
    return resp.json()["weights"]


def _versions(client: httpx.Client, users: list[str]) -> dict[str, set[str]]:
    """Versions each `user` value got over two requests."""
    seen: dict[str, set[str]] = {}
    for user in users * 2:
        version = chat(client, user=user).headers["x-motherfluxer-version"]
        seen.setdefault(user, set()).add(version)
    return seen


@pytest.mark.usefixtures("v2_server")
def test_rollout_ab_canary_switch_and_rollback(
    stack: EmbeddedStack, http: httpx.Client, admin: httpx.Client
) -> None:
    weights = _rollout(admin, {"weights": {"v1": 50, "v2": 50}, "add_versions": ["v2"]})
    assert weights == {"v1": 50, "v2": 50}
    assert http.get(f"/models/{MODEL}").json()["rollout"]["weights"] == weights
    assert admin.get("/admin/rollouts").json()["rollouts"][MODEL] == weights

    # A/B: the same `user` always gets the same version; distinct users see both. The admin
    # caller has no account id of its own, so its `user` field alone picks the bucket (the
    # fixed names make this split deterministic).
    names = [f"ab-user-{n}" for n in range(12)]
    per_user = _versions(admin, names)
    assert all(len(v) == 1 for v in per_user.values()), per_user
    assert set().union(*per_user.values()) == {"v1", "v2"}

    # Through a registered key the same holds: a repeated `user` keeps its version...
    keyed = _versions(http, ["alice", "bob"])
    assert all(len(v) == 1 for v in keyed.values()), keyed
    # ...and separate accounts are spread over both versions, each keeping its own.
    account_versions: set[str] = set()
    for _n in range(20):  # bounded: 20 accounts at 50/50 all landing alike is ~2e-6
        headers = {"Authorization": f"Bearer {registered_key(stack, 'ab')}"}
        with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as account:
            got = {chat(account).headers["x-motherfluxer-version"] for _ in range(3)}
        assert len(got) == 1, got
        account_versions |= got
        if account_versions == {"v1", "v2"}:
            break
    assert account_versions == {"v1", "v2"}

    # Canary at 0 %: every bucket is back on the stable version.
    weights = _rollout(admin, {"canary": {"stable": "v1", "canary": "v2", "percent": 0}})
    assert weights.get("v2", 0) == 0
    assert set().union(*_versions(admin, names[:6]).values()) == {"v1"}
    assert {chat(http).headers["x-motherfluxer-version"] for _ in range(3)} == {"v1"}

    # Blue-green switch: everything on v2, served by the v2 instance.
    v2_ids = routable(http, "v2")
    assert _rollout(admin, {"switch": "v2"}) == {"v1": 0, "v2": 100}
    responses = [chat(admin, user=n) for n in names[:6]] + [chat(http) for _ in range(3)]
    assert {r.headers["x-motherfluxer-version"] for r in responses} == {"v2"}
    assert {r.headers["x-motherfluxer-instance"] for r in responses} <= v2_ids

    # Rollback: everything back on v1 at once.
    assert _rollout(admin, {"rollback": "v1"}) == {"v1": 100, "v2": 0}
    responses = [chat(admin, user=n) for n in names[:6]] + [chat(http) for _ in range(3)]
    assert {r.headers["x-motherfluxer-version"] for r in responses} == {"v1"}


def test_rollout_to_an_unknown_version_is_a_400(admin: httpx.Client) -> None:
    resp = admin.put(f"/admin/models/{MODEL}/rollout", json={"switch": "v404"})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "invalid_rollout"
    assert admin.get("/admin/rollouts").json()["rollouts"][MODEL].get("v1") == 100
