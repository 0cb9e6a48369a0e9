"""Opt-in conversation history through the running local stack."""

from __future__ import annotations

import time

import httpx
import openai

from devstack.stack import EmbeddedStack
from tests.e2e.conftest import registered_key


def _wait_for(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_history_is_kept_only_when_asked(stack: EmbeddedStack) -> None:
    key = registered_key(stack)
    client = openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0)
    auth = {"Authorization": f"Bearer {key}"}

    client.chat.completions.create(
        model="tiny-chat", messages=[{"role": "user", "content": "not kept"}], max_tokens=4
    )
    first = client.chat.completions.with_raw_response.create(
        model="tiny-chat",
        messages=[{"role": "user", "content": "remember me"}],
        max_tokens=4,
        extra_body={"save_conversation": True},
    )
    cid = first.headers["x-motherfluxer-conversation-id"]
    answer = first.parse().choices[0].message.content
    stream = client.chat.completions.create(
        model="tiny-chat",
        messages=[
            {"role": "user", "content": "remember me"},
            {"role": "assistant", "content": answer},
            {"role": "user", "content": "and this too"},
        ],
        max_tokens=4,
        stream=True,
        extra_body={"save_conversation": True, "conversation_id": cid},
    )
    streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    def conversation() -> dict | None:
        got = httpx.get(stack.url + f"/v1/conversations/{cid}", headers=auth)
        body = got.json() if got.status_code == 200 else None
        return body if body and len(body.get("messages", [])) == 4 else None

    kept = _wait_for(conversation)
    assert kept is not None, "both turns should be saved"
    assert [m["role"] for m in kept["messages"]] == ["user", "assistant", "user", "assistant"]
    assert [m["content"] for m in kept["messages"]] == [
        "remember me",
        answer,
        "and this too",
        streamed,
    ]
    listed = httpx.get(stack.url + "/v1/conversations", headers=auth).json()["data"]
    assert [c["id"] for c in listed] == [cid], "the request without opt-in left no history"

    other = registered_key(stack)
    stolen = httpx.post(
        stack.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {other}"},
        json={
            "model": "tiny-chat",
            "messages": [{"role": "user", "content": "x"}],
            "save_conversation": True,
            "conversation_id": cid,
        },
    )
    assert stolen.status_code == 404
    assert httpx.delete(stack.url + f"/v1/conversations/{cid}", headers=auth).status_code == 200
