"""Local start-up wiring, price overrides, database-down auth and the AWS secret lookup."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from conftest import ADMIN_KEY

from accounts import Unavailable
from accounts.bootstrap import start_local
from accounts.pricing import Price
from accounts.usage import UsageRecord

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_local_stack_records_usage_in_the_background(
    pg, engine, redis_server, workdir, model
):
    local = await start_local(
        pg.url(), redis_server.url, workdir / "local-data", ADMIN_KEY, drain_interval_s=0.05
    )
    try:
        service = local.service
        user_id = await service.create_user("local", "registered")
        caller = await service.authenticate(f"Bearer {await service.create_key(user_id)}", "::1")
        adm = await service.admit(caller, model, 10, 10)
        await service.complete(
            adm, UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=10, tokens_out=4)
        )
        for _ in range(200):  # bounded wait for the background drainer
            if (await service.user_usage(user_id))["data"]:
                break
            await asyncio.sleep(0.05)
        rows = (await service.user_usage(user_id))["data"]
        assert [r["request_id"] for r in rows] == [adm.request_id]
    finally:
        await local.close()


async def test_price_override_from_the_prices_table(service, model):
    await service.set_price(model.id, None, Price(Decimal("100"), Decimal("100")))
    demo = await service.authenticate(None, "192.0.2.99")
    adm = await service.admit(demo, model, 10, 10)
    done = await service.complete(
        adm, UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=10, tokens_out=10)
    )
    assert done.cost_usd == Decimal("0.002")  # 20 tokens x $100 / 1M


async def test_key_lookup_with_database_down_is_503_not_a_crash(pg, service):
    user_id = await service.create_user("x", "registered")
    key = await service.create_key(user_id)
    pg.stop()
    try:
        with pytest.raises(Unavailable) as info:
            await service.authenticate(f"Bearer {key}", "1.1.1.1")
        assert info.value.status == 503
    finally:
        pg.start()
