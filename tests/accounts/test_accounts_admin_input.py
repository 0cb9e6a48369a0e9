"""Issue 12.3 and 12.10: hostile admin input answers a 4xx in the JSON error shape, never 500.

Each case here answered 500 (`psycopg.DataError`, `NumericValueOutOfRange`) or a misleading
status before the fix.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from conftest import ADMIN_KEY, PEPPER

from accounts.bootstrap import build_service
from accounts.usage import OutboxSink

NUL_CASES = [
    ("POST", "/admin/users", {"json": {"name": "a\u0000b"}}),
    ("GET", "/admin/usage?model=a%00b", {}),
    ("DELETE", "/admin/keys/a%00b", {}),
    ("GET", "/v1/models?x=%00", {}),
]


def _assert_json_error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["type"] and error["message"] and error["code"]
    return error


@pytest.mark.parametrize(("method", "path", "kwargs"), NUL_CASES)
def test_nul_bytes_are_a_400_at_the_edge(rig, method, path, kwargs) -> None:
    with rig.admin() as admin:
        resp = admin.request(method, path, **kwargs)
    assert _assert_json_error(resp, 400)["code"] == "invalid_characters"


def test_nul_in_key_scopes_and_chat_bodies_is_a_400(rig) -> None:
    user_id, key = rig.new_user()
    with rig.admin() as admin:
        resp = admin.post(f"/admin/users/{user_id}/keys", json={"scopes": ["usage\u0000read"]})
    _assert_json_error(resp, 400)
    body = {
        "model": "tiny-chat",
        "messages": [{"role": "user", "content": "hi\u0000"}],
        "save_conversation": True,
    }
    with rig.client(key) as client:
        resp = client.post("/v1/chat/completions", json=body)
    _assert_json_error(resp, 400)
    assert "x-motherfluxer-conversation-id" not in resp.headers


def test_an_escaped_backslash_before_u0000_is_text_not_nul(rig) -> None:
    with rig.admin() as admin:
        resp = admin.post(
            "/admin/users",
            content=b'{"name": "a\\\\u0000b"}',
            headers={"content-type": "application/json"},
        )
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize("usd", ["1e30", "-1", "NaN", "Infinity", 1e30])
def test_budget_out_of_column_range_is_a_4xx(rig, usd) -> None:
    user_id, _ = rig.new_user()
    with rig.admin() as admin:
        resp = admin.put(f"/admin/users/{user_id}/budget", json={"usd": usd})
    assert 400 <= resp.status_code < 500, resp.text
    _assert_json_error(resp, resp.status_code)


def test_expired_or_unknown_scope_keys_are_refused(rig) -> None:
    user_id, _ = rig.new_user()
    with rig.admin() as admin:
        past = admin.post(f"/admin/users/{user_id}/keys", json={"expires_at": 0})
        unknown = admin.post(f"/admin/users/{user_id}/keys", json={"scopes": ["root"]})
        admin_scope = admin.post(f"/admin/users/{user_id}/keys", json={"scopes": ["admin"]})
    _assert_json_error(past, 400)
    _assert_json_error(unknown, 400)
    assert "admin-tier" in _assert_json_error(admin_scope, 400)["message"]


def test_missing_key_is_401_on_every_admin_endpoint(rig) -> None:
    with rig.client() as anon:
        for method, path in [
            ("POST", "/admin/users"),
            ("GET", "/admin/usage"),
            ("GET", "/admin/instances"),
            ("GET", "/admin/rollouts"),
            ("POST", "/admin/registration-tokens"),
            ("POST", "/admin/instances/x/drain"),
        ]:
            resp = anon.request(method, path, json={})
            assert _assert_json_error(resp, 401)["code"] == "missing_api_key", path


def test_heartbeat_does_not_reveal_which_instance_ids_exist(rig) -> None:
    body = {"in_flight": 0}
    with rig.client() as client:
        known = client.post(
            "/instances/tok-1/heartbeat", json=body, headers={"Authorization": "Bearer mfi_wrong"}
        )
        unknown = client.post(
            f"/instances/nope-{uuid.uuid4().hex[:6]}/heartbeat",
            json=body,
            headers={"Authorization": "Bearer mfi_wrong"},
        )
    assert known.status_code == unknown.status_code == 401
    assert known.json() == unknown.json()


def test_the_admin_key_cannot_heartbeat_as_an_instance(rig) -> None:
    with rig.admin() as admin:
        resp = admin.post("/instances/tok-1/heartbeat", json={"in_flight": 3})
    _assert_json_error(resp, 401)


def test_huge_heartbeat_numbers_are_a_400(rig) -> None:
    with rig.client() as client:
        resp = client.post(
            "/instances/tok-1/heartbeat",
            json={"in_flight": 10**40},
            headers={"Authorization": "Bearer mfi_x"},
        )
    assert resp.status_code in (401, 400)


@pytest.mark.asyncio(loop_scope="session")
async def test_database_errors_carry_no_sql_parameters(pg, redis_server, outbox_dir, caplog):
    service = build_service(pg.url(), redis_server.url, OutboxSink(outbox_dir), PEPPER, ADMIN_KEY)
    secret = "a\u0000-very-identifiable-value"
    try:
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(Exception) as info:
                await service.create_user(secret, "registered")
    finally:
        await service.redis.aclose()
        await service.store.engine.dispose()
    text = str(info.value)
    assert "very-identifiable" not in text
    assert "very-identifiable" not in caplog.text
    assert "hidden" in text


def test_a_100_kb_model_name_is_not_echoed_whole(rig) -> None:
    _, key = rig.new_user()
    name = "m" * 100_000
    with rig.client(key) as client:
        resp = client.post(
            "/v1/chat/completions",
            json={"model": name, "messages": [{"role": "user", "content": "hi"}]},
        )
    assert 400 <= resp.status_code < 500, resp.text[:300]
    assert len(resp.json()["error"]["message"]) <= 500
