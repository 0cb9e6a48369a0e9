"""The canary watch's decisions against a shared rollout item (a fake table, real rules)."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from router.canary_watch import CanaryWatch
from router.outcomes import OutcomeWindow
from routing.canary import CanaryPolicy


class Table:
    """The rollout items as DynamoDB holds them, with the conditional put the watch uses."""

    def __init__(self, items: dict[str, dict[str, Any]]) -> None:
        self.items = {k: json.dumps(v, sort_keys=True) for k, v in items.items()}

    def put_config_if(self, name: str, value: dict[str, Any], expected: dict[str, Any]) -> bool:
        if self.items.get(name) != json.dumps(expected, sort_keys=True):
            return False
        self.items[name] = json.dumps(value, sort_keys=True)
        return True

    def config(self) -> dict[str, dict[str, Any]]:
        return {k: json.loads(v) for k, v in self.items.items()}


class Store:
    def __init__(self, table: Table, snapshot_config: dict[str, dict[str, Any]]) -> None:
        self.repo = table
        self._config = snapshot_config

    def current(self) -> Any:
        return SimpleNamespace(config=self._config)

    async def refresh(self) -> Any:
        return self.current()


class Metrics:
    def __init__(self) -> None:
        self.counted: list[tuple[str, dict[str, str]]] = []

    def count(self, name: str, value: float = 1.0, **dims: str) -> None:
        self.counted.append((name, dims))


ON_CANARY = {
    "weights": {"v1": 50.0, "v2": 50.0},
    "canary": {"stable": "v1", "canary": "v2", "percent": 50.0, "since": 0.0},
}


def _window(canary_errors: int, n: int = 60) -> OutcomeWindow:
    window = OutcomeWindow(clock=lambda: 10.0)
    for i in range(n):
        window.add("m", "v1", "chat", ok=True, latency_ms=100)
        window.add("m", "v2", "chat", ok=i >= canary_errors, latency_ms=100)
    return window


def test_two_processes_with_the_same_verdict_write_one_rollback() -> None:
    table = Table({"rollout#m": ON_CANARY})
    results, metrics = [], []
    for _ in range(2):  # both evaluated the same item before either wrote
        m = Metrics()
        watch = CanaryWatch(_window(40), Store(table, {"rollout#m": ON_CANARY}), m)
        results.append(asyncio.run(watch.evaluate()))
        metrics.append(m)
    assert [len(r) for r in results] == [1, 0]
    item = table.config()["rollout#m"]
    assert item["weights"] == {"v1": 100.0, "v2": 0.0}
    assert "canary" not in item
    assert item["auto_rollback"]["version"] == "v2"
    assert "error rate" in item["auto_rollback"]["reason"]
    assert metrics[0].counted == [("CanaryRollbacks", {"model": "m", "version": "v2"})]
    assert metrics[1].counted == []


def test_a_canary_as_good_as_stable_is_kept() -> None:
    table = Table({"rollout#m": ON_CANARY})
    watch = CanaryWatch(_window(0), Store(table, {"rollout#m": ON_CANARY}), Metrics())
    assert asyncio.run(watch.evaluate()) == []
    assert table.config()["rollout#m"] == ON_CANARY


def test_promotion_is_stepwise_and_only_when_asked_for() -> None:
    policy = CanaryPolicy(promote_after=60)
    table = Table({"rollout#m": ON_CANARY})
    off = CanaryWatch(_window(0), Store(table, {"rollout#m": ON_CANARY}), Metrics(), policy=policy)
    assert asyncio.run(off.evaluate()) == []
    on = CanaryWatch(
        _window(0), Store(table, {"rollout#m": ON_CANARY}), Metrics(), policy=policy, promote=True
    )
    assert asyncio.run(on.evaluate()) == [{"model": "m", "promoted": {"v1": 0.0, "v2": 100.0}}]
    assert table.config()["rollout#m"]["promoted"]["version"] == "v2"
