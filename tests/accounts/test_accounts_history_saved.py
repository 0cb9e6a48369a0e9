"""Issue 12.3: conversation saving succeeds or says it didn't.

Before the fix a buffered answer announced `x-motherfluxer-conversation-id` while the save
ran in the background, so a failed save left the client holding an id that was never stored.
"""

from __future__ import annotations

from tests.accounts.http_rig import MODEL

BODY = {
    "model": MODEL,
    "messages": [{"role": "user", "content": "remember me"}],
    "max_tokens": 2,
    "save_conversation": True,
}


def test_a_saved_conversation_is_announced_and_readable(rig) -> None:
    _, key = rig.new_user()
    with rig.client(key) as client:
        resp = client.post("/v1/chat/completions", json=BODY)
        assert resp.status_code == 200, resp.text
        assert resp.headers["x-motherfluxer-conversation-saved"] == "true"
        cid = resp.headers["x-motherfluxer-conversation-id"]
        # Saved before the answer was sent: readable at once, no polling.
        got = client.get(f"/v1/conversations/{cid}")
        assert got.status_code == 200
        assert [m["role"] for m in got.json()["messages"]] == ["user", "assistant"]


def test_a_failed_save_is_said_and_no_id_is_announced(rig, pg) -> None:
    _, key = rig.new_user()
    with rig.client(key) as client:
        # First use while PostgreSQL is up: the key and "no budget" are then cached.
        first = client.post("/v1/chat/completions", json={**BODY, "save_conversation": False})
        assert first.status_code == 200, first.text
        pg.stop()
        try:
            resp = client.post("/v1/chat/completions", json=BODY)
        finally:
            pg.start()
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-motherfluxer-conversation-saved"] == "false"
    assert "x-motherfluxer-conversation-id" not in resp.headers
