"""Instance strategies: each one's defining behaviour, and none ever picks a bad instance."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.catalog import STRATEGIES
from routing.instances import Instance
from routing.strategies import StrategyState, pick_instance
from tests.routing.world import NOW, inst


def _pick(strategy: str, instances: list[Instance], seed: int = 1, **kw: object) -> Instance | None:
    return pick_instance(strategy, instances, NOW, random.Random(seed), **kw)  # type: ignore[arg-type]


def test_round_robin_cycles_through_every_instance_in_turn() -> None:
    pool = [inst("m", n) for n in (3, 1, 2)]
    state = StrategyState()
    rng = random.Random(0)
    picks = [pick_instance("round_robin", pool, NOW, rng, state).instance_id for _ in range(6)]
    assert picks == ["m-v1-1", "m-v1-2", "m-v1-3"] * 2


def test_weighted_split_matches_weights_within_5_percent() -> None:
    pool = [inst("m", 1, weight=1), inst("m", 2, weight=3), inst("m", 3, weight=6)]
    rng = random.Random(42)
    counts = Counter(pick_instance("weighted", pool, NOW, rng).instance_id for _ in range(10_000))
    for instance, share in (("m-v1-1", 0.1), ("m-v1-2", 0.3), ("m-v1-3", 0.6)):
        assert abs(counts[instance] / 10_000 - share) <= share * 0.05, counts


def test_weighted_never_picks_zero_weight_when_others_have_weight() -> None:
    pool = [inst("m", 1, weight=0), inst("m", 2, weight=1)]
    rng = random.Random(3)
    assert {pick_instance("weighted", pool, NOW, rng).instance_id for _ in range(500)} == {"m-v1-2"}


def test_least_outstanding_takes_the_least_busy() -> None:
    pool = [
        inst("m", 1, in_flight=5),
        inst("m", 2, in_flight=1, queue_depth=1),
        inst("m", 3, in_flight=1),
    ]
    assert _pick("least_outstanding", pool).instance_id == "m-v1-3"


def test_latency_takes_the_fastest_ewma() -> None:
    pool = [
        inst("m", 1, latency_ewma_ms=300),
        inst("m", 2, latency_ewma_ms=40),
        inst("m", 3, latency_ewma_ms=90),
    ]
    assert _pick("latency", pool).instance_id == "m-v1-2"


def test_power_of_two_never_picks_the_busiest_of_its_pair() -> None:
    pool = [inst("m", n, in_flight=n * 10) for n in range(1, 4)]
    rng = random.Random(9)
    picks = Counter(pick_instance("power_of_two", pool, NOW, rng).instance_id for _ in range(3000))
    # With two distinct random choices the busiest of three can never win a comparison.
    assert picks["m-v1-3"] == 0
    assert picks["m-v1-1"] > picks["m-v1-2"] > 0


def test_cost_prefers_cheapest_hour_price_then_least_load() -> None:
    pool = [
        inst("m", 1, tags={"hour_usd": "1.20"}),
        inst("m", 2, tags={"hour_usd": "0.40"}, in_flight=4),
        inst("m", 3, tags={"hour_usd": "0.40"}, in_flight=1),
        inst("m", 4),
    ]
    assert _pick("cost", pool).instance_id == "m-v1-3"


def test_availability_prefers_clean_record_and_headroom() -> None:
    pool = [
        inst("m", 1, consecutive_failures=2),
        inst("m", 2, ejection_count=1),
        inst("m", 3, tags={"max_concurrency": "8"}, in_flight=6),
        inst("m", 4, tags={"max_concurrency": "8"}, in_flight=2),
    ]
    assert _pick("availability", pool).instance_id == "m-v1-4"


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_excluded_instances_are_skipped_and_empty_gives_none(strategy: str) -> None:
    pool = [inst("m", 1), inst("m", 2)]
    assert _pick(strategy, pool, exclude={"m-v1-1"}).instance_id == "m-v1-2"
    assert _pick(strategy, pool, exclude={"m-v1-1", "m-v1-2"}) is None


def test_half_open_only_when_a_probe_slot_is_free() -> None:
    pool = [inst("m", 1, breaker_state="half_open")]
    assert _pick("least_outstanding", pool) is None
    assert _pick("least_outstanding", pool, allow_half_open=True).instance_id == "m-v1-1"


def test_open_breaker_past_its_ejection_is_a_probe_only_candidate() -> None:
    pool = [inst("m", 1, breaker_state="open", ejected_until=NOW - 5)]
    assert _pick("round_robin", pool) is None
    assert _pick("round_robin", pool, allow_half_open=True).instance_id == "m-v1-1"
    assert _pick("round_robin", [inst("m", 2, breaker_state="open")], allow_half_open=True) is None


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError):
        _pick("fastest_please", [inst("m", 1)])


_instances = st.builds(
    lambda n, status, hb_age, ejected, breaker, in_flight, lat, weight: inst(
        "m",
        n,
        status=status,
        last_heartbeat=NOW - hb_age,
        ejected_until=NOW + 10 if ejected == 1 else NOW - 10 if ejected == 2 else 0.0,
        breaker_state=breaker,
        in_flight=in_flight,
        latency_ewma_ms=lat,
        weight=weight,
    ),
    st.integers(0, 50),
    st.sampled_from(["starting", "healthy", "unhealthy", "draining"]),
    st.floats(0, 120),
    st.integers(0, 2),
    st.sampled_from(["closed", "open", "half_open"]),
    st.integers(0, 20),
    st.floats(0, 1000),
    st.floats(0, 5),
)


@settings(max_examples=200, deadline=None)
@given(
    pool=st.lists(_instances, max_size=12, unique_by=lambda i: i.instance_id),
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**32),
    probe_free=st.booleans(),
)
def test_never_picks_an_unroutable_instance(
    pool: list[Instance], strategy: str, seed: int, probe_free: bool
) -> None:
    picked = _pick(strategy, pool, seed=seed, allow_half_open=probe_free)
    good = [
        i
        for i in pool
        if i.status == "healthy"
        and NOW - i.last_heartbeat <= i.lease_seconds
        and i.ejected_until <= NOW
        and (i.breaker_state != "open" or i.ejected_until > 0)
        and (probe_free or i.breaker_state == "closed")
    ]
    if not good:
        assert picked is None
    else:
        assert picked in good


@settings(max_examples=100, deadline=None)
@given(
    pool=st.lists(_instances, min_size=1, max_size=8, unique_by=lambda i: i.instance_id),
    strategy=st.sampled_from(STRATEGIES),
    seed=st.integers(0, 2**32),
)
def test_equal_inputs_give_equal_picks(pool: list[Instance], strategy: str, seed: int) -> None:
    assert _pick(strategy, pool, seed=seed) == _pick(strategy, pool, seed=seed)


def test_the_local_load_overlay_is_a_copy_with_only_the_load_changed() -> None:
    from dataclasses import replace

    from routing.instances import Instance

    base = Instance(
        "i-1",
        "m",
        "v1",
        "openai",
        "http://127.0.0.1:1",
        in_flight=2,
        weight=3.0,
        tags={"zone": "a"},
        rev=7,
        latency_ewma_ms=9.0,
    )
    copy = base.with_local_load(5, 1.5, 42.0)
    assert copy == replace(base, in_flight=5, latency_ewma_ms=1.5, ejected_until=42.0)
    assert base.in_flight == 2 and base.ejected_until == 0.0
