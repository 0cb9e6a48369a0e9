"""Self-service keys and budget for a signed-in user, and the admin's user directory, over HTTP
on a FastAPI app with the real accounts service (PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx2 as httpx
import pytest
from conftest import ADMIN_KEY
from fastapi import FastAPI

from accounts import AccountsError, AuthError
from accounts.api import build_router, error_response
from accounts.keys import parse
from accounts.self_service import MAX_ACTIVE_KEYS, next_month_start
from accounts.usage import UsageRecord
from router.authz import require_scope
from router.error_handlers import install_error_handlers

pytestmark = pytest.mark.asyncio(loop_scope="session")
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


class _Hooks:
    def __init__(self, service) -> None:
        self.service = service

    async def caller(self, request):
        return await self.service.authenticate(request.headers.get("authorization"), "1.1.1.1")


def _app(service) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_exception_handler(AccountsError, lambda _r, exc: error_response(exc))
    app.state.policy = _Hooks(service)
    app.include_router(build_router(service, require_scope))
    return app


@pytest.fixture
async def http(service):
    transport = httpx.ASGITransport(app=_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _user(service, name: str = "ann", **key_fields) -> tuple[str, str]:
    user_id = await service.create_user(name, "registered")
    return user_id, await service.create_key(user_id, **key_fields)


async def test_a_user_creates_lists_and_revokes_their_own_keys(http, service) -> None:
    user_id, first = await _user(service)
    made = await http.post("/v1/keys", json={"name": "laptop"}, headers=bearer(first))
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    second, prefix = made.json()["key"], made.json()["prefix"]
    assert parse(second)[0] == prefix and made.json()["name"] == "laptop"
    # The new key works at once and belongs to the same user, at the user's tier.
    caller = await service.authenticate(f"Bearer {second}", "1.1.1.1")
    assert (caller.user_id, caller.tier) == (user_id, "registered")

    listed = await http.get("/v1/keys", headers=bearer(second))
    assert listed.status_code == 200
    rows = {r["prefix"]: r for r in listed.json()["data"]}
    assert set(rows) == {parse(first)[0], prefix}
    assert rows[prefix]["name"] == "laptop" and rows[prefix]["current"] is True
    assert rows[prefix]["last_used_at"] is not None  # it just signed this request
    assert rows[parse(first)[0]]["current"] is False
    assert all(not r["revoked"] and r["created_at"] for r in rows.values())
    assert second not in listed.text and parse(second)[1] not in listed.text  # secret shown once

    gone = await http.delete(f"/v1/keys/{parse(first)[0]}", headers=bearer(second))
    assert gone.json() == {"prefix": parse(first)[0], "revoked": True, "signed_out": False}
    assert (await http.get("/v1/keys", headers=bearer(first))).status_code == 401
    rows = {
        r["prefix"]: r for r in (await http.get("/v1/keys", headers=bearer(second))).json()["data"]
    }
    assert rows[parse(first)[0]]["revoked"] is True and rows[parse(first)[0]]["revoked_at"]
    # Revoking it again: it is no longer an active key.
    again = await http.delete(f"/v1/keys/{parse(first)[0]}", headers=bearer(second))
    assert again.status_code == 404


async def test_another_users_key_is_404_and_keeps_working(http, service) -> None:
    _, mine = await _user(service, "ann")
    _, theirs = await _user(service, "bob")
    their_prefix = parse(theirs)[0]
    refused = await http.delete(f"/v1/keys/{their_prefix}", headers=bearer(mine))
    unknown = await http.delete("/v1/keys/aaaaaaaa", headers=bearer(mine))
    assert refused.status_code == unknown.status_code == 404
    assert refused.json() == unknown.json()  # nothing tells "exists but not yours" apart
    assert (await http.get("/v1/keys", headers=bearer(theirs))).status_code == 200
    listed = (await http.get("/v1/keys", headers=bearer(mine))).json()["data"]
    assert their_prefix not in {r["prefix"] for r in listed}


async def test_revoking_the_key_in_use_signs_the_caller_out(http, service) -> None:
    _, key = await _user(service)
    prefix = parse(key)[0]
    res = await http.delete(f"/v1/keys/{prefix}", headers=bearer(key))
    assert res.status_code == 200 and res.json()["signed_out"] is True
    after = await http.get("/v1/keys", headers=bearer(key))
    assert after.status_code == 401 and after.json()["error"]["code"] == "invalid_api_key"


async def test_demo_and_operator_callers_get_clear_errors(http) -> None:
    for method, path in (("GET", "/v1/keys"), ("POST", "/v1/keys"), ("GET", "/v1/budget")):
        demo = await http.request(method, path)
        assert demo.status_code == 401, (path, demo.text)
        assert demo.json()["error"]["code"] == "missing_api_key"
    demo = await http.delete("/v1/keys/aaaaaaaa")
    assert demo.status_code == 401
    operator = await http.post("/v1/keys", headers=ADMIN)
    assert operator.status_code == 403
    assert "admin key has no account" in operator.json()["error"]["message"]


async def test_scopes_a_key_cannot_widen_itself(http, service) -> None:
    _, narrow = await _user(service, scopes=("inference",))
    # Created without scopes: exactly the creator's, not the tier's defaults.
    made = (await http.post("/v1/keys", json={}, headers=bearer(narrow))).json()
    assert made["scopes"] == ["inference"]
    assert (await http.get("/v1/usage", headers=bearer(made["key"]))).status_code == 403
    wider = await http.post("/v1/keys", json={"scopes": ["usage:read"]}, headers=bearer(narrow))
    assert wider.status_code == 400 and "usage:read" in wider.json()["error"]["message"]
    admin = await http.post("/v1/keys", json={"scopes": ["admin"]}, headers=bearer(narrow))
    assert admin.status_code == 400
    # A usage-only key reads its budget but cannot manage keys.
    _, reader = await _user(service, "reader", scopes=("usage:read",))
    assert (await http.get("/v1/budget", headers=bearer(reader))).status_code == 200
    assert (await http.get("/v1/keys", headers=bearer(reader))).status_code == 403


async def test_at_most_twenty_active_keys_even_when_created_at_once(http, service) -> None:
    _, key = await _user(service)
    for _ in range(MAX_ACTIVE_KEYS - 3):
        assert (await http.post("/v1/keys", headers=bearer(key))).status_code == 201
    # Two slots left; five concurrent creates: exactly two win.
    results = await asyncio.gather(*(http.post("/v1/keys", headers=bearer(key)) for _ in range(5)))
    codes = sorted(r.status_code for r in results)
    assert codes == [201, 201, 409, 409, 409]
    over = next(r for r in results if r.status_code == 409)
    assert over.json()["error"]["code"] == "key_limit_reached"
    listed = (await http.get("/v1/keys", headers=bearer(key))).json()["data"]
    assert len(listed) == MAX_ACTIVE_KEYS
    # Revoking one makes room again.
    spare = next(r["prefix"] for r in listed if not r["current"])
    assert (await http.delete(f"/v1/keys/{spare}", headers=bearer(key))).status_code == 200
    assert (await http.post("/v1/keys", headers=bearer(key))).status_code == 201


async def test_a_revoked_self_service_key_dies_in_every_process_within_the_cache_ttl(
    build_service,
) -> None:
    class Clock:
        now = 1000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    router_a, router_b = build_service(clock=clock), build_service(clock=clock)
    _, key = await _user(router_a)
    transport = httpx.ASGITransport(app=_app(router_a))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        made = (await http.post("/v1/keys", headers=bearer(key))).json()["key"]
        await router_b.authenticate(f"Bearer {made}", "1.1.1.1")  # B caches it
        res = await http.delete(f"/v1/keys/{parse(made)[0]}", headers=bearer(key))
        assert res.status_code == 200
    with pytest.raises(AuthError):
        await router_a.authenticate(f"Bearer {made}", "1.1.1.1")
    await router_b.authenticate(f"Bearer {made}", "1.1.1.1")  # still cached in B
    clock.now += router_b.key_cache.ttl + 0.5  # at most 30 s, well inside the 60 s promised
    with pytest.raises(AuthError):
        await router_b.authenticate(f"Bearer {made}", "1.1.1.1")


async def test_budget_shows_limit_spend_remaining_and_the_reset(
    http, service, model, drainer
) -> None:
    user_id, key = await _user(service)
    none = (await http.get("/v1/budget", headers=bearer(key))).json()
    assert none["limit_usd"] is None and none["remaining_usd"] is None
    assert none["spent_usd"] == "0"

    await service.set_budget(user_id, Decimal("0.01"), "monthly")
    caller = await service.authenticate(f"Bearer {key}", "1.1.1.1")
    adm = await service.admit(caller, model, 1000, 1000)  # reserves, seeds the live counter
    await service.complete(
        adm,
        UsageRecord(
            request_id=adm.request_id, model=model.id, version="v1", tokens_in=1000, tokens_out=500
        ),
    )
    live = (await http.get("/v1/budget", headers=bearer(key))).json()
    # 1000 in at $1/1M + 500 out at $2/1M = $0.002.
    assert live["source"] == "live"
    assert (live["limit_usd"], live["spent_usd"], live["remaining_usd"]) == (
        "0.01",
        "0.002",
        "0.008",
    )
    assert live["period"] == "monthly"
    assert live["resets_at"] == next_month_start(datetime.now(UTC)).isoformat()

    # With the live counter gone (Redis flushed), the ledger answers the same spend.
    await drainer.drain_once()
    await service.redis.flushdb()
    ledger = (await http.get("/v1/budget", headers=bearer(key))).json()
    assert ledger["source"] == "ledger" and ledger["spent_usd"] == "0.002"


async def test_admin_user_directory_lists_everyone_with_keys_budget_and_spend(
    http, service, model, drainer
) -> None:
    quiet, _ = await _user(service, "quiet")  # never made a request
    busy, key = await _user(service, "busy")
    await service.create_key(busy)
    await service.set_budget(busy, Decimal("5"), "total")
    caller = await service.authenticate(f"Bearer {key}", "1.1.1.1")
    adm = await service.admit(caller, model, 100, 100)
    await service.complete(
        adm,
        UsageRecord(
            request_id=adm.request_id, model=model.id, version="v1", tokens_in=100, tokens_out=100
        ),
    )
    await drainer.drain_once()
    third = await service.create_user("third", "admin")

    page = (await http.get("/admin/users", params={"limit": 2}, headers=ADMIN)).json()
    assert page["total"] == 3 and page["next_offset"] == 2
    assert [u["name"] for u in page["data"]] == ["quiet", "busy"]
    by_id = {u["id"]: u for u in page["data"]}
    assert by_id[quiet]["keys"] == 1 and by_id[quiet]["spent_usd"] == "0"
    assert by_id[quiet]["budget_usd"] is None
    assert by_id[busy]["keys"] == 2 and by_id[busy]["budget_usd"] == "5"
    assert by_id[busy]["spent_usd"] == "0.0003" and by_id[busy]["tier"] == "registered"
    assert by_id[busy]["created_at"]
    rest = (await http.get("/admin/users", params={"offset": 2}, headers=ADMIN)).json()
    assert [u["id"] for u in rest["data"]] == [third] and rest["next_offset"] is None
    newest = await http.get("/admin/users", params={"newest_first": "true"}, headers=ADMIN)
    assert [u["name"] for u in newest.json()["data"]] == ["third", "busy", "quiet"]

    assert (await http.get("/admin/users", headers=bearer(key))).status_code == 403
    assert (await http.get("/admin/users")).status_code == 401
    assert (await http.get("/admin/users", params={"limit": 0}, headers=ADMIN)).status_code == 400
