"""How many instances of a pool passive health may take out at once, and what clients are
told when nothing is left."""

import dataclasses

from routing.instances import Instance
from routing.outlier import is_suspect, max_ejected, may_eject, retry_after_for

NOW = 1000.0


def pool(n: int) -> list[Instance]:
    return [
        Instance(f"i{k}", "m", "v1", "openai", f"http://127.0.0.1:{9000 + k}", last_heartbeat=NOW)
        for k in range(n)
    ]


def ejected(inst: Instance, until: float = NOW + 30) -> Instance:
    return dataclasses.replace(inst, breaker_state="open", ejection_count=1, ejected_until=until)


def failing(inst: Instance) -> Instance:
    return dataclasses.replace(inst, consecutive_failures=5)


def test_cap_is_ten_percent_but_at_least_one() -> None:
    assert max_ejected(1) == 1
    assert max_ejected(9) == 1
    assert max_ejected(10) == 1
    assert max_ejected(20) == 2
    assert max_ejected(35) == 3


def test_first_ejection_is_always_allowed() -> None:
    assert may_eject("i0", pool(1), NOW)
    assert may_eject("i0", pool(3), NOW)


def test_second_ejection_refused_while_healthy_peers_serve() -> None:
    instances = pool(3)
    instances[0] = ejected(instances[0])
    assert not may_eject("i1", instances, NOW)


def test_refused_instance_is_suspect() -> None:
    assert is_suspect(failing(pool(1)[0]))
    assert not is_suspect(pool(1)[0])


def test_when_every_serving_peer_is_failing_ejection_proceeds() -> None:
    # Keeping known-bad instances in rotation only makes clients wait: eject and fail fast.
    instances = pool(3)
    instances[0] = ejected(instances[0])
    instances[2] = failing(instances[2])
    assert may_eject("i1", instances, NOW)


def test_peers_without_heartbeat_do_not_hold_the_cap() -> None:
    instances = pool(3)
    instances[0] = ejected(instances[0])
    instances[2] = dataclasses.replace(instances[2], last_heartbeat=NOW - 3600)
    assert may_eject("i1", instances, NOW)


def test_larger_pools_allow_more() -> None:
    instances = pool(20)
    instances[0] = ejected(instances[0])
    assert may_eject("i1", instances, NOW)
    instances[1] = ejected(instances[1])
    assert not may_eject("i2", instances, NOW)


def test_retry_after_points_at_the_first_ejection_end() -> None:
    instances = [ejected(i, until=NOW + 30 + k * 10) for k, i in enumerate(pool(3))]
    assert retry_after_for(instances, NOW) == 30
    assert retry_after_for(instances, NOW + 29.2) == 1
    assert retry_after_for(pool(2), NOW) == 5
