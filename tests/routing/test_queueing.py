"""The queueing policy: who a freed slot goes to, and when a model counts as full."""

from __future__ import annotations

from routing.instances import Instance
from routing.queueing import (
    PRIORITY_DEMO,
    PRIORITY_REGISTERED,
    Waiter,
    free_slots,
    has_room,
    instance_capacity,
    next_waiter,
    priority_of,
    retry_after_s,
)


def inst(iid: str, **fields) -> Instance:
    base = {
        "model": "m",
        "version": "v1",
        "kind": "openai",
        "endpoint": "http://x",
        "lease_seconds": 0,
    }
    base.update(fields)
    return Instance(instance_id=iid, **base)


def drain(waiters: list[Waiter], in_flight: dict[str, int]) -> list[int]:
    """The order slots go out when each admitted request keeps its tokens in flight."""
    queue, order, load = list(waiters), [], dict(in_flight)
    while queue:
        w = queue.pop(next_waiter(queue, load))
        load[w.key] = load.get(w.key, 0) + w.tokens
        order.append(w.seq)
    return order


def test_registered_requests_go_ahead_of_demo_ones_that_came_first() -> None:
    waiters = [
        Waiter(1, PRIORITY_DEMO, "ip:a", 10),
        Waiter(2, PRIORITY_DEMO, "ip:b", 10),
        Waiter(3, PRIORITY_REGISTERED, "k1", 10_000),
    ]
    assert drain(waiters, {}) == [3, 1, 2]


def test_a_heavy_key_cannot_starve_a_light_one() -> None:
    heavy = [Waiter(i, PRIORITY_REGISTERED, "heavy", 4_000) for i in range(1, 6)]
    light = [
        Waiter(10, PRIORITY_REGISTERED, "light", 100),
        Waiter(11, PRIORITY_REGISTERED, "light", 100),
    ]
    order = drain([*heavy, *light], {"heavy": 4_000})
    # The light key's requests go before every queued heavy one, though they came last.
    assert order[:2] == [10, 11]
    assert order[2:] == [1, 2, 3, 4, 5]


def test_equal_keys_take_turns_and_ties_keep_arrival_order() -> None:
    waiters = [
        Waiter(1, PRIORITY_REGISTERED, "a", 100),
        Waiter(2, PRIORITY_REGISTERED, "a", 100),
        Waiter(3, PRIORITY_REGISTERED, "b", 100),
        Waiter(4, PRIORITY_REGISTERED, "b", 100),
    ]
    assert drain(waiters, {}) == [1, 3, 2, 4]


def test_priority_classes() -> None:
    assert priority_of("demo") == PRIORITY_DEMO
    assert priority_of("registered") == priority_of("admin") == priority_of(None)


def test_capacity_comes_from_the_tag_then_the_catalog_and_providers_are_never_limited() -> None:
    assert instance_capacity(inst("a", tags={"max_concurrency": "3"}), 1) == 3
    assert instance_capacity(inst("a"), 2) == 2
    assert instance_capacity(inst("a"), None) is None
    assert instance_capacity(inst("a", kind="external"), 2) is None
    assert instance_capacity(inst("a", tags={"max_concurrency": "junk"}), 2) == 2


def test_free_slots_count_only_routable_instances() -> None:
    pool = [inst("a"), inst("b"), inst("c", status="unhealthy")]
    assert free_slots(pool, 2, {"a": 2, "b": 1, "c": 0}, now=100.0) == 1
    assert free_slots(pool, 2, {"a": 2, "b": 2}, now=100.0) == 0
    # One unlimited instance: the model is never full; none routable: not a queueing matter.
    assert free_slots([inst("a"), inst("u", kind="external")], 1, {"a": 1}, 100.0) is None
    assert free_slots([inst("c", status="unhealthy")], 1, {}, 100.0) is None
    assert has_room(inst("a"), 1, 0) and not has_room(inst("a"), 1, 1)


def test_retry_after_grows_with_the_queue_and_is_bounded() -> None:
    assert retry_after_s(0, 1, 0.0) == 1
    assert retry_after_s(3, 1, 1500.0) == 6
    assert retry_after_s(1_000, 1, 5_000.0) == 30
