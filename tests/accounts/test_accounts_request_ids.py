"""Issue 12.2: a reused `x-request-id` can neither merge ledger rows nor hide a request.

The router generates every ledger id itself; the caller's id is stored beside it as a
non-unique `client_request_id` and echoed back in `x-request-id`.
"""

from __future__ import annotations

from tests.accounts.http_rig import MODEL

BODY = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def test_same_client_id_from_two_keys_gives_one_row_per_request(rig) -> None:
    user_a, key_a = rig.new_user()
    user_b, key_b = rig.new_user()
    shared = "dup-request-id-0001"
    replies = []
    for key in [key_a] * 5 + [key_b]:
        with rig.client(key) as client:
            replies.append(
                client.post("/v1/chat/completions", json=BODY, headers={"x-request-id": shared})
            )
    assert [r.status_code for r in replies] == [200] * 6, [r.text for r in replies]
    assert [r.headers["x-request-id"] for r in replies] == [shared] * 6
    ours = [r.headers["x-motherfluxer-request-id"] for r in replies]
    assert len(set(ours)) == 6 and shared not in ours

    rows_a = rig.ledger(user_a, 5)
    rows_b = rig.ledger(user_b, 1)
    assert len(rows_a) == 5 and len(rows_b) == 1
    assert {r["client_request_id"] for r in rows_a + rows_b} == {shared}
    assert [r["request_id"] for r in rows_a] == ours[:5]
    assert [r["request_id"] for r in rows_b] == ours[5:]
    assert len({r["key_prefix"] for r in rows_a}) == 1
    assert rows_b[0]["key_prefix"] != rows_a[0]["key_prefix"]


def test_without_a_client_id_the_echo_is_the_routers_id(rig) -> None:
    _, key = rig.new_user()
    with rig.client(key) as client:
        resp = client.post("/v1/chat/completions", json=BODY)
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == resp.headers["x-motherfluxer-request-id"]
    assert resp.headers["x-request-id"].startswith("req_")


def test_usage_endpoint_shows_the_client_id(rig) -> None:
    user_id, key = rig.new_user()
    with rig.client(key) as client:
        resp = client.post("/v1/chat/completions", json=BODY, headers={"x-request-id": "mine-42"})
        assert resp.status_code == 200
        rig.ledger(user_id, 1)
        usage = client.get("/v1/usage").json()
    assert [row["client_request_id"] for row in usage["data"]] == ["mine-42"]
    assert usage["data"][0]["request_id"] == resp.headers["x-motherfluxer-request-id"]
