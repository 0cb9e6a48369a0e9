"""Version rollouts: weights, canary share, blue-green, rollback and sticky A/B assignment."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.catalog import Catalog, ModelSpec, ModelVersionSpec
from routing.rollouts import RolloutError, RolloutTable, bucket_for


def _table() -> RolloutTable:
    spec = ModelSpec(
        id="m",
        versions=(
            ModelVersionSpec(version="v1", weight=70),
            ModelVersionSpec(version="v2", weight=30),
            ModelVersionSpec(version="v3", weight=0),
        ),
    )
    return RolloutTable(Catalog(models=(spec,)))


def _shares(table: RolloutTable, seed: int = 11, n: int = 10_000) -> dict[str, float]:
    rng = random.Random(seed)
    counts = Counter(table.assign("m", None, rng) for _ in range(n))
    return {v: c / n for v, c in counts.items()}


def _within_5_percent(observed: float, expected: float) -> bool:
    return abs(observed - expected) <= expected * 0.05


def test_anonymous_split_follows_catalog_weights() -> None:
    shares = _shares(_table())
    assert _within_5_percent(shares["v1"], 0.7)
    assert _within_5_percent(shares["v2"], 0.3)
    assert "v3" not in shares


def test_sticky_users_split_follows_weights_too() -> None:
    table, rng = _table(), random.Random(0)
    counts = Counter(table.assign("m", f"user-{i}", rng) for i in range(10_000))
    assert _within_5_percent(counts["v2"] / 10_000, 0.3)


def test_canary_percentage_takes_effect_immediately() -> None:
    table = _table()
    table.canary("m", stable="v1", canary="v3", percent=10)
    shares = _shares(table)
    assert _within_5_percent(shares["v3"], 0.10)
    assert _within_5_percent(shares["v1"], 0.90)
    assert "v2" not in shares


def test_blue_green_switch_and_rollback_move_everything() -> None:
    table = _table()
    table.switch("m", "v3")
    assert _shares(table, n=500) == {"v3": 1.0}
    table.rollback("m", "v1")
    assert _shares(table, n=500) == {"v1": 1.0}
    assert table.weights("m") == {"v1": 100.0, "v2": 0.0, "v3": 0.0}


@pytest.mark.parametrize(
    "weights",
    [{"v9": 10}, {"v1": -1, "v2": 5}, {"v1": 0, "v2": 0}, {"v1": float("nan")}],
)
def test_bad_weights_are_rejected_and_leave_table_unchanged(weights: dict[str, float]) -> None:
    table = _table()
    with pytest.raises(RolloutError):
        table.set_weights("m", weights)
    assert table.weights("m") == {"v1": 70, "v2": 30, "v3": 0}


def test_unknown_model_is_rejected() -> None:
    with pytest.raises(RolloutError):
        _table().switch("nope", "v1")


def test_unavailable_version_traffic_goes_to_the_others() -> None:
    table, rng = _table(), random.Random(5)
    assert {table.assign("m", None, rng, available={"v2"}) for _ in range(200)} == {"v2"}
    assert table.assign("m", None, rng, available={"v3"}) is None
    assert table.ordered_versions("m", "alice", rng)[1:] in (["v2"], ["v1"])


@settings(max_examples=200, deadline=None)
@given(user=st.text(min_size=1, max_size=40), seed_a=st.integers(), seed_b=st.integers())
def test_ab_assignment_is_sticky_per_user(user: str, seed_a: int, seed_b: int) -> None:
    table = _table()
    first = table.assign("m", user, random.Random(seed_a))
    assert all(table.assign("m", user, random.Random(seed_b)) == first for _ in range(3))
    assert 0 <= bucket_for(user, "m") < 10_000


def test_changing_the_split_moves_only_the_users_it_must() -> None:
    table, rng = _table(), random.Random(0)
    users = [f"u{i}" for i in range(2000)]
    before = {u: table.assign("m", u, rng) for u in users}
    table.set_weights("m", {"v1": 60, "v2": 40})
    after = {u: table.assign("m", u, rng) for u in users}
    # Growing v2 from 30% to 40% moves v1 users to v2 and never the other way.
    assert not [u for u in users if before[u] == "v2" and after[u] == "v1"]
