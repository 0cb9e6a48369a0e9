"""Rate limits exact at the boundary, under concurrency, with Redis down, and demo shedding."""

from __future__ import annotations

import asyncio

import pytest
from conftest import make_settings, request_id
from redis.asyncio import Redis

from accounts import Forbidden, Overloaded, RateLimited, Unavailable
from accounts.ratelimit import Bucket, RedisLimiter
from accounts.settings import AccountsSettings
from accounts.tiers import DEFAULT_LIMITS, TierLimits
from accounts.usage import UsageRecord

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def _try(service, caller, model, prompt=10, max_tokens=10):
    try:
        return await service.admit(caller, model, prompt, max_tokens)
    except RateLimited as exc:
        return exc


async def test_demo_ip_limit_is_exact_at_the_boundary(build_service, model):
    service = build_service(
        settings=make_settings(demo=TierLimits(per_subject_rpm=5, max_tokens=64))
    )
    caller = await service.authenticate(None, "203.0.113.7")
    results = [await _try(service, caller, model) for _ in range(6)]
    assert all(not isinstance(r, RateLimited) for r in results[:5])
    assert isinstance(results[5], RateLimited)
    assert results[5].status == 429 and 1 <= results[5].retry_after <= 12
    # Another IP has its own allowance.
    other = await service.authenticate(None, "203.0.113.8")
    assert not isinstance(await _try(service, other, model), RateLimited)


async def test_concurrent_requests_cannot_both_take_the_last_slot(build_service, model):
    limits = TierLimits(per_key_rpm=20, per_subject_rpm=1000)
    service_a = build_service(settings=make_settings(registered=limits))
    service_b = build_service(settings=make_settings(registered=limits))  # a second router
    user_id = await service_a.create_user("u", "registered")
    key = await service_a.create_key(user_id)
    caller = await service_a.authenticate(f"Bearer {key}", "1.1.1.1")
    results = await asyncio.gather(*(_try(s, caller, model) for s in [service_a, service_b] * 25))
    passed = [r for r in results if not isinstance(r, RateLimited)]
    assert len(passed) == 20
    assert len(results) - len(passed) == 30


async def test_token_limit_reserves_estimate_and_refunds_unused(build_service, model):
    limits = TierLimits(per_key_tpm=1000)
    service = build_service(settings=make_settings(registered=limits))
    user_id = await service.create_user("t", "registered")
    caller = await service.authenticate(f"Bearer {await service.create_key(user_id)}", "1.1.1.1")
    first = await service.admit(caller, model, 100, 400)  # reserves 500 tokens
    second = await service.admit(caller, model, 100, 400)  # reserves 500 more: full
    with pytest.raises(RateLimited):
        await service.admit(caller, model, 100, 400)
    # Both used only 150 tokens: 700 are refunded, so the third request now fits.
    for adm in (first, second):
        rec = UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=100, tokens_out=50)
        await service.complete(adm, rec)
    assert await service.admit(caller, model, 100, 400)


async def test_limiter_script_uses_one_clock_for_exact_retry_after(redis: Redis):
    now = {"ms": 1_000_000.0}
    limiter = RedisLimiter(redis, clock=lambda: now["ms"])
    bucket = [Bucket("mf:rl:test:r", limit=3, cost=1)]
    assert [(await limiter.check(bucket)).allowed for _ in range(4)] == [True, True, True, False]
    denied = await limiter.check(bucket)
    assert denied.retry_after_s == 20  # one slot leaks back every 60 s / 3
    now["ms"] += 20_000
    assert (await limiter.check(bucket)).allowed
    assert not (await limiter.check(bucket)).allowed


async def test_redis_down_demo_fails_closed_registered_falls_back(build_service, model):
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    live = build_service()
    user_id = await live.create_user("r", "registered")
    key = await live.create_key(user_id)
    limits = TierLimits(per_key_rpm=3)
    service = build_service(redis=dead, settings=make_settings(registered=limits))
    demo = await service.authenticate(None, "198.51.100.1")
    with pytest.raises(Unavailable) as info:
        await service.admit(demo, model, 10, 10)
    assert info.value.status == 503 and info.value.retry_after
    caller = await service.authenticate(f"Bearer {key}", "1.1.1.1")
    outcomes = [await _try(service, caller, model) for _ in range(4)]
    assert [isinstance(o, RateLimited) for o in outcomes] == [False, False, False, True]
    await dead.aclose()


async def test_demo_only_gets_demo_models_and_clamped_tokens(service, model, paid_model):
    demo = await service.authenticate(None, "192.0.2.1")
    with pytest.raises(Forbidden):
        await service.admit(demo, paid_model, 10, 10)
    admission = await service.admit(demo, model, 10, 4000)
    assert admission.max_tokens == DEFAULT_LIMITS["demo"].max_tokens


async def test_overload_sheds_demo_first_while_registered_passes(build_service, model):
    settings = AccountsSettings(demo_max_in_flight=3, registered_max_in_flight=6)
    service = build_service(settings=settings)
    user_id = await service.create_user("vip", "registered")
    registered = await service.authenticate(
        f"Bearer {await service.create_key(user_id)}", "1.1.1.1"
    )
    demos = [await service.authenticate(None, f"192.0.2.{i}") for i in range(10)]

    held = [await service.admit(demos[i], model, 5, 5) for i in range(3)]
    with pytest.raises(Overloaded) as info:
        await service.admit(demos[3], model, 5, 5)
    assert info.value.status == 429 and info.value.retry_after >= 1
    # Registered users still get in up to their higher threshold.
    held += [await service.admit(registered, model, 5, 5) for _ in range(3)]
    with pytest.raises(Overloaded):
        await service.admit(registered, model, 5, 5)
    for adm in held:
        await service.abort(adm)
    assert service.gate.in_flight == 0
    await service.admit(demos[4], model, 5, 5)


async def test_completed_request_records_usage(service, model, drainer):
    demo = await service.authenticate(None, "192.0.2.50")
    adm = await service.admit(demo, model, 10, 10, request_id=request_id())
    done = await service.complete(
        adm, UsageRecord(request_id=adm.request_id, model=model.id, tokens_in=10, tokens_out=5)
    )
    assert done.cost_usd > 0
    assert await drainer.drain_once() == 1
