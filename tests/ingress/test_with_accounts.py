"""With accounts on a real PostgreSQL and Redis: stored responses (`store`,
`previous_response_id`, GET/DELETE), keys and 401s, cache hits, rate-limit headers."""

from __future__ import annotations

import time

import anthropic
import httpx
import openai
import pytest
import sqlalchemy as sa
from openai.types.responses import Response

from accounts.schema import sync_url
from tests.ingress.conftest import CHAT, PRIVATE, AccountsRouter
from tests.ingress.strict import strict
from tests.support.openai_wire_mock import OpenAIWireMock

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _client(stack: AccountsRouter, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0)


def _stored_rows(stack: AccountsRouter) -> int:
    engine = sa.create_engine(sync_url(stack.database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM stored_responses")).scalar_one())
    finally:
        engine.dispose()


def test_function_tool_round_trip_with_previous_response_id(
    accounts_router: AccountsRouter, upstream: OpenAIWireMock
) -> None:
    client = _client(accounts_router, accounts_router.new_key())
    first = client.responses.create(
        model=CHAT, input="Weather in Paris?", tools=[WEATHER], store=True, instructions="Be brief"
    )
    call = next(item for item in first.output if item.type == "function_call")
    second = client.responses.create(
        model=CHAT,
        previous_response_id=first.id,
        tools=[WEATHER],
        store=True,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"}],
    )
    assert second.output_text == "The tool said: sunny, 21 C"
    assert second.previous_response_id == first.id
    sent = upstream.bodies("/v1/chat/completions")[-1]["messages"]
    # The stored turn (question and tool call) came back; the old instructions did not.
    assert [m["role"] for m in sent] == ["user", "assistant", "tool"]
    assert sent[1]["tool_calls"][0]["id"] == call.call_id


def test_get_and_delete_are_owner_checked(accounts_router: AccountsRouter) -> None:
    mine = _client(accounts_router, accounts_router.new_key())
    other = _client(accounts_router, accounts_router.new_key())
    created = mine.responses.create(model=CHAT, input="keep me", store=True)
    fetched = mine.responses.retrieve(created.id)
    assert fetched.output_text == created.output_text
    raw = httpx.get(
        accounts_router.url + f"/v1/responses/{created.id}",
        headers={"Authorization": f"Bearer {mine.api_key}"},
    )
    strict(Response, raw.json())
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model=CHAT, input="x", previous_response_id=created.id)
    mine.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        mine.responses.retrieve(created.id)


def test_nothing_is_stored_unless_store_is_true(accounts_router: AccountsRouter) -> None:
    client = _client(accounts_router, accounts_router.new_key())
    before = _stored_rows(accounts_router)
    plain = client.responses.create(model=CHAT, input="forget me")
    streamed = client.responses.create(model=CHAT, input="forget me too", stream=True)
    final = next(e for e in streamed if e.type == "response.completed").response
    off = client.responses.create(model=CHAT, input="and me", store=False)
    assert _stored_rows(accounts_router) == before
    for rid in (plain.id, final.id, off.id):
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(rid)


def test_a_streamed_response_is_stored_when_asked(accounts_router: AccountsRouter) -> None:
    client = _client(accounts_router, accounts_router.new_key())
    with client.responses.stream(model=CHAT, input="stream and keep", store=True) as stream:
        final = stream.get_final_response()
    assert client.responses.retrieve(final.id).output_text == "Hello! You said: stream and keep"


def test_store_needs_a_key(accounts_router: AccountsRouter) -> None:
    anonymous = httpx.post(
        accounts_router.url + "/v1/responses", json={"model": CHAT, "input": "x", "store": True}
    )
    assert anonymous.status_code == 400 and anonymous.json()["error"]["param"] == "store"


def test_invalid_keys_get_401_everywhere(accounts_router: AccountsRouter) -> None:
    bad = _client(accounts_router, "mf_not_a_real_key_0000000000")
    with pytest.raises(openai.AuthenticationError):
        bad.responses.create(model=CHAT, input="x")
    with pytest.raises(openai.AuthenticationError):
        bad.models.retrieve(CHAT)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="mock-embed", input="x")
    claude = anthropic.Anthropic(base_url=accounts_router.url, api_key="bad-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        claude.messages.create(
            model=CHAT, max_tokens=5, messages=[{"role": "user", "content": "x"}]
        )
    assert info.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


def test_x_api_key_is_accepted_like_bearer(accounts_router: AccountsRouter) -> None:
    key = accounts_router.new_key()
    body = {"model": PRIVATE, "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"x-api-key": key, "anthropic-version": "2026-10-21"}
    ok = httpx.post(accounts_router.url + "/v1/messages", json=body, headers=headers)
    assert ok.status_code == 200, ok.text
    anonymous = httpx.post(accounts_router.url + "/v1/messages", json=body)
    assert anonymous.status_code == 403
    assert anonymous.json()["error"]["type"] == "permission_error"
    headers["x-api-key"] = "bad-key"
    refused = httpx.post(accounts_router.url + "/v1/messages", json=body, headers=headers)
    assert refused.status_code == 401
    assert refused.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": refused.json()["error"]["message"]},
    }


def test_model_list_refuses_an_invalid_key_but_not_a_missing_one(
    accounts_router: AccountsRouter,
) -> None:
    bad = _client(accounts_router, "mf_not_a_real_key_0000000000")
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    assert httpx.get(accounts_router.url + "/v1/models").status_code == 200
    good = _client(accounts_router, accounts_router.new_key())
    assert CHAT in {m.id for m in good.models.list()}


def test_embeddings_with_a_key_are_served_and_recorded(
    accounts_router: AccountsRouter, upstream: OpenAIWireMock
) -> None:
    key = accounts_router.new_key()
    client = _client(accounts_router, key)
    out = client.embeddings.create(
        model="mock-embed", input=["one", "two"], encoding_format="float"
    )
    assert len(out.data) == 2 and out.usage.prompt_tokens > 0
    # The instance got an embeddings body, nothing of a chat request's (max_tokens).
    assert set(upstream.bodies("/v1/embeddings")[-1]) <= {"model", "input", "encoding_format"}
    headers = {"Authorization": f"Bearer {key}"}
    rows: list = []
    for _ in range(40):
        rows = httpx.get(accounts_router.url + "/v1/usage", headers=headers).json()["data"]
        if rows:
            break
        time.sleep(0.25)
    assert rows and rows[0]["model"] == "mock-embed"
    assert rows[0]["tokens_in"] == out.usage.prompt_tokens


def test_a_cached_answer_still_gets_a_fresh_id(accounts_router: AccountsRouter) -> None:
    client = _client(accounts_router, accounts_router.new_key())
    ask = {"model": CHAT, "input": "cache me please", "temperature": 0}
    first = client.responses.with_raw_response.create(**ask)
    second = client.responses.with_raw_response.create(**ask)
    assert second.headers.get("x-motherfluxer-cache") == "hit"
    assert first.parse().id != second.parse().id
    assert first.parse().output_text == second.parse().output_text
    claude = anthropic.Anthropic(
        base_url=accounts_router.url, api_key=client.api_key, max_retries=0
    )
    body = {"model": CHAT, "max_tokens": 9, "messages": [{"role": "user", "content": "cache"}]}
    # Only deterministic requests are cached (temperature 0).
    a, b = (
        claude.messages.with_raw_response.create(**body, extra_body={"temperature": 0})
        for _ in range(2)
    )
    assert b.headers.get("x-motherfluxer-cache") == "hit" and a.parse().id != b.parse().id


def test_routed_answers_describe_the_callers_own_limits(accounts_router: AccountsRouter) -> None:
    key = accounts_router.new_key()
    client = _client(accounts_router, key)
    first = client.responses.with_raw_response.create(model=CHAT, input="one")
    second = client.chat.completions.with_raw_response.create(
        model=CHAT, messages=[{"role": "user", "content": "two"}]
    )
    for kind in ("requests", "tokens"):
        for raw in (first, second):
            assert raw.headers[f"x-ratelimit-reset-{kind}"].endswith("s")
    # A registered key's own limits: 600 requests and 200,000 tokens a minute.
    assert first.headers["x-ratelimit-limit-requests"] == "600"
    assert first.headers["x-ratelimit-limit-tokens"] == "200000"
    # This request is counted (the bucket also drains 10 a second, so two in a row may agree).
    for raw in (first, second):
        assert int(raw.headers["x-ratelimit-remaining-requests"]) <= 599
    assert int(first.headers["x-ratelimit-remaining-tokens"]) < 200_000
    claude = anthropic.Anthropic(base_url=accounts_router.url, api_key=key, max_retries=0)
    streamed = claude.messages.with_raw_response.create(
        model=CHAT, max_tokens=8, messages=[{"role": "user", "content": "x"}]
    )
    assert streamed.headers["x-ratelimit-limit-requests"] == "600"
    # No key: the demo tier's per-client allowance.
    demo = httpx.post(accounts_router.url + "/v1/responses", json={"model": CHAT, "input": "x"})
    assert demo.status_code == 200 and demo.headers["x-ratelimit-limit-requests"] == "10"
