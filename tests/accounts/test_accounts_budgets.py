"""Budgets: concurrent reservations cannot overspend; 402 when spent; 80 % flag; re-seeding."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from accounts import BudgetExceeded
from accounts.pricing import max_cost
from accounts.usage import UsageRecord

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _registered(service, budget: str | None = None):
    user_id = await service.create_user("payer", "registered")
    if budget is not None:
        await service.set_budget(user_id, Decimal(budget))
    key = await service.create_key(user_id)
    return user_id, await service.authenticate(f"Bearer {key}", "1.1.1.1")


async def test_100_concurrent_requests_never_overspend(build_service, paid_model, drainer):
    service_a, service_b = build_service(), build_service()  # two router processes
    budget = Decimal("0.05")
    user_id, caller = await _registered(service_a, str(budget))
    # Each request may cost up to 1,000 in + 1,000 out = $0.04 on this model.
    reservation = max_cost(paid_model, 1000, 1000)

    async def one(service, i: int):
        try:
            adm = await service.admit(caller, paid_model, 1000, 1000)
        except BudgetExceeded:
            return None
        await asyncio.sleep(0)
        rec = UsageRecord(
            request_id=adm.request_id, model=paid_model.id, tokens_in=1000, tokens_out=900
        )
        return await service.complete(adm, rec)

    done = await asyncio.gather(*(one(s, i) for i, s in enumerate([service_a, service_b] * 50)))
    served = [d for d in done if d is not None]
    spent = sum((d.cost_usd for d in served), Decimal(0))
    assert served, "at least one request fits the budget"
    assert spent <= budget + reservation
    assert spent <= budget  # the reservation makes the bound strict
    await drainer.drain_once()
    report = await service_a.user_usage(user_id)
    assert len(report["data"]) == len(served)
    assert Decimal(report["summary"]["cost_usd"]) == spent


async def test_tiny_budget_gives_402_and_80_percent_flag(service, model):
    # $0.0003 per request (100 in, 100 out), budget $0.001: 3 fit (0.0009 ≥ 80 %), 4th does not.
    _, caller = await _registered(service, "0.001")
    results = []
    for _ in range(4):
        try:
            adm = await service.admit(caller, model, 100, 100)
        except BudgetExceeded as exc:
            results.append(exc)
            continue
        rec = UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=100, tokens_out=100)
        results.append(await service.complete(adm, rec))
    assert [r.budget_alert_80 for r in results[:3]] == [False, False, True]
    assert isinstance(results[3], BudgetExceeded)
    assert results[3].status == 402 and "Budget" in results[3].message


async def test_abort_releases_the_reservation(service, model):
    _, caller = await _registered(service, "0.0003")
    adm = await service.admit(caller, model, 100, 100)
    with pytest.raises(BudgetExceeded):
        await service.admit(caller, model, 100, 100)
    await service.abort(adm)
    assert await service.admit(caller, model, 100, 100)


async def test_budget_is_reseeded_from_the_ledger_when_redis_lost_it(
    service, model, drainer, redis
):
    _, caller = await _registered(service, "0.0006")
    adm = await service.admit(caller, model, 100, 100)
    await service.complete(
        adm, UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=100, tokens_out=100)
    )
    await drainer.drain_once()
    await redis.flushdb()  # eviction / restart of the cache
    await service.admit(caller, model, 100, 100)  # $0.0003 spent + 0.0003 = limit: fits
    with pytest.raises(BudgetExceeded):
        await service.admit(caller, model, 100, 100)
