"""The queue's waiting on its own event loop: hand-off on release, a caller leaving while queued,
and a slot granted to a waiter that left in the same moment. The store is the router's real
`SnapshotStore` over a fixed instance list; no HTTP is involved."""

from __future__ import annotations

import asyncio
import time

from router.dispatch.queue import ModelQueues
from router.dispatch.types import QueueClaim
from router.snapshot import SnapshotStore
from routing.catalog import Catalog
from routing.instances import Instance

CATALOG = Catalog.model_validate(
    {"models": [{"id": "m", "queue": {"max_concurrency": 1, "max_depth": 4, "max_wait_s": 5}}]}
)


class FixedRepo:
    def list_instances(self) -> list[Instance]:
        return [
            Instance("m-1", "m", "v1", "openai", "http://127.0.0.1:9", last_heartbeat=time.time())
        ]

    def list_config(self) -> dict:
        return {}


async def _queues() -> tuple[ModelQueues, SnapshotStore]:
    store = SnapshotStore(FixedRepo())  # type: ignore[arg-type]
    await store.refresh()
    return ModelQueues(store, lambda: CATALOG), store


def claim(key: str) -> QueueClaim:
    return QueueClaim(0, key, 10)


async def _busy(queues: ModelQueues, store: SnapshotStore) -> None:
    """Take the only slot, as the dispatcher does: grant, settle, acquire."""
    ticket = await queues.enter("m", "v1", claim("holder"), time.perf_counter() + 5)
    assert ticket is not None
    ticket.settle()
    store.acquire("m-1")


def test_a_release_hands_the_slot_to_the_waiter() -> None:
    async def run() -> None:
        queues, store = await _queues()
        await _busy(queues, store)
        waiter = asyncio.ensure_future(queues.enter("m", "v1", claim("a"), time.perf_counter() + 5))
        await asyncio.sleep(0)
        assert queues.depth("m") == 1 and not waiter.done()
        queues.release("m-1")
        ticket = await asyncio.wait_for(waiter, 1)
        assert ticket is not None and queues.depth("m") == 0
        # Reserved for it: a newcomer must queue although no request is in flight.
        late = asyncio.ensure_future(queues.enter("m", "v1", claim("b"), time.perf_counter() + 5))
        await asyncio.sleep(0)
        assert not late.done() and queues.depth("m") == 1
        ticket.close()  # it never used the slot: the newcomer gets it
        assert (await asyncio.wait_for(late, 1)) is not None

    asyncio.run(run())


def test_a_caller_that_leaves_while_queued_leaves_the_queue() -> None:
    async def run() -> None:
        queues, store = await _queues()
        await _busy(queues, store)
        gone = asyncio.ensure_future(queues.enter("m", "v1", claim("a"), time.perf_counter() + 5))
        stays = asyncio.ensure_future(queues.enter("m", "v1", claim("b"), time.perf_counter() + 5))
        await asyncio.sleep(0)
        assert queues.depth("m") == 2
        gone.cancel()
        await asyncio.sleep(0)
        assert queues.depth("m") == 1
        queues.release("m-1")
        assert (await asyncio.wait_for(stays, 1)) is not None

    asyncio.run(run())


def test_a_slot_granted_to_a_waiter_that_just_left_goes_to_the_next() -> None:
    async def run() -> None:
        queues, store = await _queues()
        await _busy(queues, store)
        first = asyncio.ensure_future(queues.enter("m", "v1", claim("a"), time.perf_counter() + 5))
        second = asyncio.ensure_future(queues.enter("m", "v1", claim("b"), time.perf_counter() + 5))
        await asyncio.sleep(0)
        queues.release("m-1")  # grants `first`, which is cancelled before it runs
        first.cancel()
        assert (await asyncio.wait_for(second, 1)) is not None

    asyncio.run(run())
