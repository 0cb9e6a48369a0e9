"""A key's default optimisation goal: set by the admin on create or update, carried by the cached
key verification, overridden by the request's own `routing.optimize`, named in the reason."""

from __future__ import annotations

import httpx

from tests.accounts.http_rig import MODEL, HttpRig


def reason(rig: HttpRig, key: str, **extra) -> str:
    with rig.client(key) as c:
        r = c.post(
            "/v1/chat/completions",
            json={
                "model": "auto",
                "messages": [{"role": "user", "content": "hello there, how are you?"}],
                "max_tokens": 8,
                **extra,
            },
        )
    assert r.status_code == 200, r.text
    assert r.headers["x-motherfluxer-model"] == MODEL
    return r.headers["x-motherfluxer-route-reason"]


def new_key(rig: HttpRig, **fields) -> tuple[str, str]:
    _, key = rig.new_user(**fields)
    return key, key.split("_")[1]


def test_a_keys_goal_applies_to_its_requests_and_the_reason_says_so(rig: HttpRig) -> None:
    key, _ = new_key(rig, optimize="cost")
    assert "goal cost (key default)" in reason(rig, key)


def test_the_requests_own_goal_overrides_the_keys(rig: HttpRig) -> None:
    key, _ = new_key(rig, optimize="cost")
    text = reason(rig, key, routing={"optimize": "quality"})
    assert "goal quality" in text
    assert "key default" not in text and "goal cost" not in text


def test_the_admin_changes_or_clears_a_keys_goal(rig: HttpRig) -> None:
    key, prefix = new_key(rig)
    assert "goal" not in reason(rig, key)
    with rig.admin() as admin:
        changed = admin.patch(f"/admin/keys/{prefix}", json={"optimize": "latency"})
        assert changed.status_code == 200, changed.text
        assert changed.json() == {"prefix": prefix, "optimize": "latency"}
    assert "goal latency (key default)" in reason(rig, key)
    with rig.admin() as admin:
        assert admin.patch(f"/admin/keys/{prefix}", json={"optimize": None}).status_code == 200
    assert "goal" not in reason(rig, key)


def test_bad_goal_updates_are_refused(rig: HttpRig) -> None:
    _, prefix = new_key(rig)
    with rig.admin() as admin:
        assert admin.patch(f"/admin/keys/{prefix}", json={"optimize": "cheap"}).status_code == 400
        assert admin.patch("/admin/keys/zzzzzzzz", json={"optimize": "cost"}).status_code == 404
        created = admin.post("/admin/users", json={"name": "goal-less", "tier": "registered"})
        user_id = created.json()["user_id"]
        bad = admin.post(f"/admin/users/{user_id}/keys", json={"optimize": "fast"})
        assert bad.status_code == 400
    with httpx.Client(base_url=rig.url) as anon:
        assert anon.patch(f"/admin/keys/{prefix}", json={"optimize": "cost"}).status_code in (
            401,
            403,
        )
