"""The instances table through the repository, against moto's DynamoDB server."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest

from registry.repository import InstanceNotFound, InstanceRepository, create_table
from routing.instances import Instance
from tests.support.router_harness import dynamodb


@pytest.fixture(scope="module")
def serial_moto() -> Iterator[str]:
    """A moto server that handles one request at a time.

    DynamoDB applies each conditional write atomically; moto's backend has no locks, so its
    threaded server can interleave two writers' check-and-write and lose an update that real
    DynamoDB would refuse. Serving requests one by one restores DynamoDB's per-item atomicity,
    while the 50 writers below still race each other over the network like router processes.
    """
    from devstack.moto_serial import serial_server

    server = serial_server()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def repo(serial_moto: str) -> InstanceRepository:
    client = dynamodb(serial_moto)
    table = "repo-" + uuid.uuid4().hex[:8]
    create_table(client, table)
    return InstanceRepository(client, table)


def _inst(iid: str = "i-1", **kw: object) -> Instance:
    base = dict(
        instance_id=iid,
        model="m",
        version="v1",
        kind="openai",
        endpoint="http://127.0.0.1:1",
        last_heartbeat=time.time(),
    )
    base.update(kw)
    return Instance(**base)  # type: ignore[arg-type]


def test_register_list_and_roundtrip_fields(repo: InstanceRepository) -> None:
    inst = _inst(weight=2.5, latency_ewma_ms=12.25, tags={"upstream_model": "x"})
    repo.register(inst, "hash")
    [stored] = repo.list_instances()
    assert stored.instance_id == "i-1"
    assert stored.weight == 2.5
    assert stored.latency_ewma_ms == 12.25
    assert stored.tags == {"upstream_model": "x"}
    assert repo.credential_hash("i-1") == "hash"


def test_register_twice_is_refused(repo: InstanceRepository) -> None:
    repo.register(_inst(), "h")
    with pytest.raises(repo._client.exceptions.ConditionalCheckFailedException):
        repo.register(_inst(), "h")


def test_heartbeat_updates_load_and_respects_draining(repo: InstanceRepository) -> None:
    repo.register(_inst(status="starting"), "h")
    after = repo.heartbeat("i-1", in_flight=3, queue_depth=1, tokens_per_second=40.0, ready=True)
    assert after.status == "healthy" and after.in_flight == 3 and after.rev == 1
    repo.apply("i-1", lambda i: replace(i, status="draining"))
    again = repo.heartbeat("i-1", in_flight=0, queue_depth=0, tokens_per_second=0.0, ready=True)
    assert again.status == "draining", "a heartbeat must not undo an operator's drain"


def test_heartbeat_for_unknown_instance(repo: InstanceRepository) -> None:
    with pytest.raises(InstanceNotFound):
        repo.heartbeat("nope", in_flight=0, queue_depth=0, tokens_per_second=0, ready=True)


def test_registration_token_is_single_use(repo: InstanceRepository) -> None:
    assert repo.consume_token("tok-1", time.time() + 60) is True
    assert repo.consume_token("tok-1", time.time() + 60) is False


def test_config_items_roundtrip(repo: InstanceRepository) -> None:
    repo.put_config("rollout#m", {"weights": {"v1": 90, "v2": 10}})
    assert repo.list_config() == {"rollout#m": {"weights": {"v1": 90, "v2": 10}}}
    assert repo.list_instances() == []


def test_fifty_concurrent_writers_lose_no_update(repo: InstanceRepository) -> None:
    """25 heartbeat writers and 25 failure-counting writers race on one item."""
    repo.register(_inst(), "h")
    errors: list[BaseException] = []
    barrier = threading.Barrier(50)

    def count_failure() -> None:
        try:
            barrier.wait()
            repo.apply("i-1", lambda i: replace(i, ejection_count=i.ejection_count + 1))
        except BaseException as exc:
            errors.append(exc)

    def heartbeat() -> None:
        try:
            barrier.wait()
            repo.heartbeat("i-1", in_flight=1, queue_depth=0, tokens_per_second=1.0, ready=True)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=count_failure) for _ in range(25)]
    threads += [threading.Thread(target=heartbeat) for _ in range(25)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    final = repo.get("i-1")
    assert final is not None
    assert final.ejection_count == 25, "every read-modify-write must land exactly once"
    assert final.rev == 50, "every writer bumped the version attribute once"
