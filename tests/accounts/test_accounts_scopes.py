"""Issue 12.6 and 12.7: key scopes are enforced, and one admin rule covers every admin endpoint."""

from __future__ import annotations

from tests.accounts.http_rig import MODEL

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _error(resp, status: int) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


def test_usage_read_key_gets_403_on_chat_naming_the_scope(rig) -> None:
    _, key = rig.new_user(scopes=["usage:read"])
    with rig.client(key) as client:
        error = _error(client.post("/v1/chat/completions", json=CHAT), 403)
        assert error["code"] == "forbidden"
        assert "'inference'" in error["message"]
        assert client.get("/v1/usage").status_code == 200


def test_inference_key_gets_403_on_usage(rig) -> None:
    _, key = rig.new_user(scopes=["inference"])
    with rig.client(key) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        error = _error(client.get("/v1/usage"), 403)
        assert "'usage:read'" in error["message"]


def test_default_scopes_keep_working(rig) -> None:
    _, key = rig.new_user()
    with rig.client(key) as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200
        assert client.get("/v1/usage").status_code == 200
        assert "'admin'" in _error(client.get("/admin/instances"), 403)["message"]


ADMIN_CALLS = [
    ("POST", "/admin/users", {"name": "made-by-admin-tier"}),
    ("GET", "/admin/usage", None),
    ("GET", "/admin/instances", None),
    ("GET", "/admin/rollouts", None),
    ("PUT", f"/admin/models/{MODEL}/strategy", {"strategy": None}),
    ("POST", "/admin/registration-tokens", {"model": MODEL}),
    ("POST", "/admin/instances/tok-1/undrain", None),
]


def test_admin_tier_user_key_opens_every_admin_endpoint(rig) -> None:
    _, admin_key = rig.new_user(tier="admin")
    other_user, registered_key = rig.new_user()
    with rig.client(admin_key) as admin, rig.client(registered_key) as plain:
        for method, path, body in ADMIN_CALLS:
            resp = admin.request(method, path, json=body)
            assert resp.status_code < 300, (path, resp.text)
            assert plain.request(method, path, json=body).status_code == 403, path
        keyed = admin.post(f"/admin/users/{other_user}/keys", json={})
        assert keyed.status_code == 201
        budget = admin.put(f"/admin/users/{other_user}/budget", json={"usd": "1"})
        assert budget.status_code == 200
        assert admin.delete(f"/admin/keys/{keyed.json()['prefix']}").status_code == 200


def test_admin_tier_key_without_the_admin_scope_is_not_admin(rig) -> None:
    _, key = rig.new_user(tier="admin", scopes=["inference"])
    with rig.client(key) as client:
        assert _error(client.get("/admin/usage"), 403)["code"] == "forbidden"
        assert _error(client.get("/admin/instances"), 403)["code"] == "forbidden"
