"""The hot path's Redis cost and what keeps it safe: one round trip before the model is called,
the rest after the response in batches, and a dead router's requests still ledgered."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from redis.asyncio.connection import AbstractConnection

from accounts import BudgetExceeded
from accounts.admission_script import INTENT_EXPIRY, INTENTS
from accounts.orphans import UNSETTLED_REASON
from accounts.pricing import max_cost
from accounts.usage import OutboxSink, UsageRecord

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Counting:
    """Counts the round trips clients make to one Redis server: each network write, with the
    commands it carries (a pipelined batch is one write of several commands)."""

    def __init__(self, redis) -> None:
        self.port = redis.connection_pool.connection_kwargs["port"]
        self.writes: list[list[str]] = []

    def __enter__(self) -> Counting:
        self._original = AbstractConnection.send_packed_command
        counting = self

        async def send(conn, command, check_health=True):
            if getattr(conn, "port", None) == counting.port:
                packet = command if isinstance(command, bytes) else b"".join(command)
                counting.writes.append(_command_names(packet))
            return await counting._original(conn, command, check_health)

        AbstractConnection.send_packed_command = send
        return self

    def __exit__(self, *exc) -> None:
        AbstractConnection.send_packed_command = self._original


def _command_names(packet: bytes) -> list[str]:
    """The command names in a RESP packet of arrays of bulk strings."""
    names, pos = [], 0
    while pos < len(packet):
        assert packet[pos : pos + 1] == b"*"
        end = packet.index(b"\r\n", pos)
        count, pos = int(packet[pos + 1 : end]), end + 2
        for i in range(count):
            end = packet.index(b"\r\n", pos)
            size = int(packet[pos + 1 : end])
            if i == 0:
                names.append(packet[end + 2 : end + 2 + size].decode().upper())
            pos = end + 2 + size + 2
    return names


async def _payer(service, budget: str):
    user_id = await service.create_user("payer", "registered")
    await service.set_budget(user_id, Decimal(budget))
    key = await service.create_key(user_id)
    return user_id, await service.authenticate(f"Bearer {key}", "1.1.1.1")


async def test_one_round_trip_admits_and_one_batch_settles(service, paid_model, redis) -> None:
    _, caller = await _payer(service, "10")
    # Once: seeds the budget in Redis, opens the connections, loads both scripts.
    first = await service.admit(caller, paid_model, 10, 10)
    service.complete_later(first, UsageRecord(request_id=first.request_id, model=paid_model.id))
    await service.drain_settlements()
    with Counting(redis) as counted:
        admissions = [await service.admit(caller, paid_model, 100, 100) for _ in range(5)]
    # Limits, the budget reservation and the intent: one script, one round trip per request.
    assert counted.writes == [["EVALSHA"]] * 5
    with Counting(redis) as counted:
        for adm in admissions:
            record = UsageRecord(
                request_id=adm.request_id, model=paid_model.id, tokens_in=80, tokens_out=20
            )
            completion = service.complete_later(adm, record)
            # The cost is known at once, before anything is written anywhere.
            assert completion.cost_usd == Decimal("0.0014")
        assert counted.writes == []
        await service.drain_settlements()
    # Five settles in one pipelined round trip (no SCRIPT EXISTS before it).
    assert counted.writes == [["EVALSHA"] * 5]
    # The intents went with the settles.
    assert not any([await redis.hexists(INTENTS, a.request_id) for a in admissions])


async def test_deferred_records_reach_the_outbox_and_settle_the_budget(
    build_service, paid_model, outbox_dir, redis
) -> None:
    service = build_service()
    user_id, caller = await _payer(service, "1")
    adm = await service.admit(caller, paid_model, 1000, 1000)
    assert await redis.hexists(INTENTS, adm.request_id)
    record = UsageRecord(
        request_id=adm.request_id, model=paid_model.id, tokens_in=1000, tokens_out=100
    )
    service.complete_later(adm, record)
    await service.drain_settlements()
    spooled = {r.request_id: r for r in OutboxSink(outbox_dir).peek(100)}
    assert spooled[adm.request_id].cost_usd == Decimal("0.013")
    state = await redis.hgetall(f"mf:budget:{{{user_id}}}")
    assert int(state[b"reserved"]) == 0
    assert int(state[b"spent"]) == 13_000_000  # nano-dollars: $0.013
    assert not await redis.hexists(INTENTS, adm.request_id)


async def test_budget_refusal_books_no_rate_limit(build_service, paid_model, redis) -> None:
    service = build_service()
    _, caller = await _payer(service, "0.0001")
    with pytest.raises(BudgetExceeded):
        await service.admit(caller, paid_model, 1000, 1000)
    # All or nothing: a refused request left no request or token in any bucket.
    for key in await redis.keys(f"mf:rl:key:{caller.key_prefix}:*"):
        level = await redis.hget(key, "level")
        assert level is None or float(level) == 0


async def test_a_dead_routers_requests_are_ledgered_from_their_intents(
    build_service, paid_model, outbox_dir, redis
) -> None:
    router_a = build_service()
    user_id, caller = await _payer(router_a, "1")
    adm = await router_a.admit(caller, paid_model, 1000, 1000)
    reserved = max_cost(paid_model, adm.prompt_tokens, adm.output_tokens)
    # Router A dies here: no complete, no abort. Another router sweeps once the intent expired.
    router_b = build_service()
    later_ms = int(time.time() * 1000) + 24 * 3600 * 1000
    swept = await router_b.orphans.sweep_once(now_ms=later_ms)
    assert swept >= 1
    rows = {r.request_id: r for r in OutboxSink(outbox_dir).peek(1000)}
    row = rows[adm.request_id]
    assert row.status == 500 and row.route_reason == UNSETTLED_REASON
    assert row.user_id == user_id and row.cost_usd == reserved  # never below the real cost
    state = await redis.hgetall(f"mf:budget:{{{user_id}}}")
    assert int(state[b"reserved"]) == 0
    assert int(state[b"spent"]) == int(reserved * 10**9)
    assert not await redis.hexists(INTENTS, adm.request_id)
    assert await redis.zscore(INTENT_EXPIRY, adm.request_id) is None
    # Swept once: a second sweep finds nothing of it.
    await router_b.orphans.sweep_once(now_ms=later_ms)
    assert sum(1 for r in OutboxSink(outbox_dir).peek(1000) if r.request_id == adm.request_id) == 1


async def test_settled_requests_are_never_swept(build_service, paid_model, redis) -> None:
    service = build_service()
    _, caller = await _payer(service, "1")
    done = []
    for _ in range(3):
        adm = await service.admit(caller, paid_model, 10, 10)
        service.complete_later(
            adm, UsageRecord(request_id=adm.request_id, model=paid_model.id, tokens_in=10)
        )
        done.append(adm.request_id)
    aborted = await service.admit(caller, paid_model, 10, 10)
    await service.abort(aborted)
    await service.drain_settlements()
    for rid in [*done, aborted.request_id]:
        assert not await redis.hexists(INTENTS, rid)


async def test_concurrent_deferred_settles_keep_the_budget_exact(
    build_service, paid_model, outbox_dir
) -> None:
    service = build_service()
    user_id, caller = await _payer(service, "0.05")

    async def one() -> Decimal | None:
        try:
            adm = await service.admit(caller, paid_model, 1000, 1000)
        except BudgetExceeded:
            return None
        await asyncio.sleep(0)
        record = UsageRecord(
            request_id=adm.request_id, model=paid_model.id, tokens_in=1000, tokens_out=900
        )
        return service.complete_later(adm, record).cost_usd

    costs = [c for c in await asyncio.gather(*(one() for _ in range(60))) if c is not None]
    await service.drain_settlements()
    assert costs and sum(costs, Decimal(0)) <= Decimal("0.05")
    spooled = [r for r in OutboxSink(outbox_dir).peek(1000) if r.user_id == user_id]
    assert len(spooled) == len(costs)
