"""Response cache rules, and the admin/user endpoints end to end on a FastAPI app."""

from __future__ import annotations

import httpx2 as httpx
import pytest
from conftest import ADMIN_KEY
from fastapi import FastAPI

from accounts import AccountsError
from accounts.api import build_router, error_response
from accounts.cache import ResponseCache, cache_key
from accounts.usage import UsageRecord
from router.authz import require_scope
from router.error_handlers import install_error_handlers

pytestmark = pytest.mark.asyncio(loop_scope="session")

REQ = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}


async def test_cache_hit_returns_body_and_route_headers(redis):
    cache = ResponseCache(redis, ttl_s=60)
    key = cache_key("user-1", REQ)
    assert await cache.get(key) is None
    await cache.put(key, '{"id": "x"}', {"x-motherfluxer-model": "m", "set-cookie": "no"})
    hit = await cache.get(key)
    assert hit.body == '{"id": "x"}' and hit.headers == {"x-motherfluxer-model": "m"}
    assert 0 < await redis.ttl(key) <= 60


class _Hooks:
    """The one thing `router.authz` needs from the accounts policy: who is calling."""

    def __init__(self, service) -> None:
        self.service = service

    async def caller(self, request):
        host = request.client.host if request.client else "unknown"
        return await self.service.authenticate(request.headers.get("authorization"), host)


@pytest.fixture
def app(service) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_exception_handler(AccountsError, lambda _r, exc: error_response(exc))
    app.state.policy = _Hooks(service)
    app.include_router(build_router(service, require_scope))
    return app


async def test_admin_and_user_flow(app, service, model, drainer):
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/admin/users", json={"name": "ann", "tier": "registered"})
        assert r.status_code == 401  # no key: nobody, whatever the admin endpoint
        r = await client.post(
            "/admin/users", json={"name": "ann", "tier": "registered"}, headers=admin
        )
        user_id = r.json()["user_id"]
        r = await client.post(f"/admin/users/{user_id}/keys", headers=admin)
        key, prefix = r.json()["key"], r.json()["prefix"]
        user = {"Authorization": f"Bearer {key}"}
        assert (
            await client.put(f"/admin/users/{user_id}/budget", json={"usd": "5"}, headers=admin)
        ).status_code == 200

        caller = await service.authenticate(user["Authorization"], "1.1.1.1")
        for tokens_out in (5, 9):
            adm = await service.admit(caller, model, 10, 20)
            await service.complete(
                adm,
                UsageRecord(
                    request_id=adm.request_id,
                    model=model.id,
                    version="v1",
                    tokens_in=10,
                    tokens_out=tokens_out,
                ),
            )
        await drainer.drain_once()

        mine = (await client.get("/v1/usage", headers=user)).json()
        assert [row["tokens_out"] for row in mine["data"]] == [5, 9]
        assert mine["summary"]["requests"] == 2 and float(mine["summary"]["cost_usd"]) > 0
        report = (
            await client.get("/admin/usage", params={"model": model.id}, headers=admin)
        ).json()
        assert report["by_model"][0]["requests"] == 2
        assert report["by_version"][0]["version"] == "v1"
        assert report["by_user"][0]["user_id"] == user_id

        cid = await service.save_conversation(user_id, [{"role": "user", "content": "hello"}])
        listed = (await client.get("/v1/conversations", headers=user)).json()["data"]
        assert [c["id"] for c in listed] == [cid]
        conv = (await client.get(f"/v1/conversations/{cid}", headers=user)).json()
        assert conv["messages"][0]["content"] == "hello"
        assert (await client.delete(f"/v1/conversations/{cid}", headers=user)).status_code == 200
        assert (await client.get(f"/v1/conversations/{cid}", headers=user)).status_code == 404

        assert (await client.delete(f"/admin/keys/{prefix}", headers=admin)).status_code == 200
        r = await client.get("/v1/usage", headers=user)
        assert r.status_code == 401
        assert r.json() == {
            "error": {
                "type": "authentication_error",
                "message": "Invalid API key.",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert key not in r.text
