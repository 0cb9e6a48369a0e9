"""Issue 12.5: `/health` reports the accounts components' real state, and each outage its code."""

from __future__ import annotations

import time

from tests.accounts.http_rig import MODEL

CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _components(rig) -> dict:
    with rig.client() as client:
        resp = client.get("/health")
    return resp.json()


def test_health_and_auth_errors_follow_postgres(rig, pg) -> None:
    healthy = _components(rig)
    assert healthy["components"]["postgres"] == "ok"
    assert healthy["components"]["accounts"] == "ok"
    _, key = rig.new_user()  # never used: not in the router's key cache
    pg.stop()
    try:
        time.sleep(2.2)  # past the health probe's cache
        down = _components(rig)
        assert down["status"] != "ok"
        assert down["components"]["postgres"] == "down"
        assert down["components"]["accounts"] == "degraded"
        with rig.client(key) as client:
            resp = client.post("/v1/chat/completions", json=CHAT)
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"]["code"] == "auth_unavailable"
        assert resp.headers["retry-after"]
        with rig.admin() as admin:
            report = admin.get("/admin/usage")
        assert report.status_code == 503
        assert report.json()["error"]["code"] == "accounts_unavailable"
    finally:
        pg.start()
    time.sleep(2.2)
    assert _components(rig)["components"]["postgres"] == "ok"
