"""Issue 6 "Must show", through the running local stack, as a user and an operator see it.

Admin creates users and keys; a key works and every answer carries its cost; a revoked key
gets the same 401 as a key that never existed; anonymous (demo) callers are rate limited per
IP and have `max_tokens` clamped; a budget ends in 402 once spent; `GET /v1/usage` lists
exactly the requests a user made, with tokens and cost, and `GET /admin/usage` groups them.

Anonymous calls go out from 127.0.0.3 (their rate limit is per client IP, and every other
module shares 127.0.0.1). Registered users are created fresh per test so ledgers, budgets and
limits never mix with other modules' traffic.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from devstack.stack import EmbeddedStack

ROOT = Path(__file__).resolve().parents[2]
CATALOG: dict[str, Any] = json.loads((ROOT / "devstack" / "local.json").read_text())
DEMO_LIMITS: dict[str, Any] = CATALOG["accounts"]["limits"]["demo"]
# USD per token, input and output, per model, as the stack is configured.
PRICES: dict[str, tuple[Decimal, Decimal]] = {
    m["id"]: (
        Decimal(str(m["cost_per_1m_input"])) / 1_000_000,
        Decimal(str(m["cost_per_1m_output"])) / 1_000_000,
    )
    for m in CATALOG["models"]
}
ANON_ADDRESS = "127.0.0.3"
HEADER_USD = Decimal("0.00000001")  # x-motherfluxer-cost-usd carries 8 decimals
USAGE_DEADLINE_S = 20.0  # the outbox drains about every second; allow for a busy machine
HELLO = [{"role": "user", "content": "hi"}]


# -- helpers ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def admin(stack: EmbeddedStack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    with httpx.Client(base_url=stack.url, headers=headers, timeout=30) as client:
        yield client


def new_user(admin: httpx.Client, name: str) -> tuple[str, str, str]:
    """(user_id, key, prefix) of a fresh registered user."""
    resp = admin.post("/admin/users", json={"name": name, "tier": "registered"})
    assert resp.status_code == 201, resp.text
    user_id = resp.json()["user_id"]
    resp = admin.post(f"/admin/users/{user_id}/keys", json={})
    assert resp.status_code == 201, resp.text
    assert resp.headers["cache-control"] == "no-store"  # the key is shown once
    body = resp.json()
    assert body["key"].startswith(f"mf_{body['prefix']}_")
    return user_id, body["key"], body["prefix"]


def sdk(stack: EmbeddedStack, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack.url + "/v1", api_key=key, max_retries=0, timeout=30)


def chat(client: httpx.Client, key: str | None, model: str = "tiny-chat", **extra: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": model, "messages": HELLO, "max_tokens": 4, **extra}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def expected_cost(model: str, tokens_in: int, tokens_out: int) -> Decimal:
    cin, cout = PRICES[model]
    return cin * tokens_in + cout * tokens_out


def header_cost(headers: httpx.Headers) -> Decimal:
    return Decimal(headers["x-motherfluxer-cost-usd"])


def warm_router(stack: EmbeddedStack) -> None:
    """Route one request with the developer key right before a count-sensitive sequence.

    After some idle seconds the router routes on a stale instance snapshot whose leases have
    run out, so the first request can be refused with `model_not_served` (reported to the
    lead). A routed request refreshes the snapshot, so the counts below are about accounts.
    """
    deadline = time.monotonic() + 15
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        while True:
            resp = chat(client, stack.api_key, max_tokens=1)
            if resp.status_code == 200 or time.monotonic() > deadline:
                assert resp.status_code == 200, resp.text
                return
            time.sleep(0.2)


def assert_error(resp: httpx.Response, status: int, type_: str, code: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    error = resp.json()["error"]
    assert error["type"] == type_
    assert error["code"] == code
    assert error["message"]
    return error


def poll_usage(client: httpx.Client, key: str, want: int) -> dict[str, Any]:
    """GET /v1/usage until it shows `want` rows (usage reaches Postgres asynchronously)."""
    deadline = time.monotonic() + USAGE_DEADLINE_S
    while True:
        resp = client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        if len(body["data"]) >= want or time.monotonic() > deadline:
            return body
        time.sleep(0.25)


# -- keys ------------------------------------------------------------------------------------
def test_new_key_chats_through_the_sdk_and_reports_cost(
    stack: EmbeddedStack, admin: httpx.Client
) -> None:
    _, key, _ = new_user(admin, "accounts-e2e-sdk")
    warm_router(stack)
    raw = sdk(stack, key).chat.completions.with_raw_response.create(
        model="tiny-chat", messages=HELLO, max_tokens=4
    )
    completion = raw.parse()
    assert completion.choices[0].message.content is not None
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    model = raw.headers["x-motherfluxer-model"]
    cost = Decimal(raw.headers["x-motherfluxer-cost-usd"])
    want = expected_cost(model, completion.usage.prompt_tokens, completion.usage.completion_tokens)
    assert cost > 0
    assert abs(cost - want) <= HEADER_USD


def test_user_key_is_not_an_admin_key(stack: EmbeddedStack, admin: httpx.Client) -> None:
    _, key, _ = new_user(admin, "accounts-e2e-not-admin")
    resp = httpx.get(
        stack.url + "/admin/usage", headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert_error(resp, 403, "permission_error", "forbidden")


def test_revoked_key_gets_401_identical_to_unknown_key(
    stack: EmbeddedStack, admin: httpx.Client
) -> None:
    _, key, prefix = new_user(admin, "accounts-e2e-revoke")
    warm_router(stack)
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        # Used once first, so the router holds the key in its cache when it is revoked.
        assert chat(client, key).status_code == 200
        resp = admin.delete(f"/admin/keys/{prefix}")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"prefix": prefix, "revoked": True}

        revoked = chat(client, key)
        assert_error(revoked, 401, "authentication_error", "invalid_api_key")
        # Every way of holding a bad key looks the same, so none can be told apart by probing.
        unknown = chat(client, f"mf_{'a' * 8}_{'b' * 43}")
        malformed = chat(client, "not-a-key")
        assert unknown.status_code == malformed.status_code == 401
        assert revoked.content == unknown.content == malformed.content
        # Other endpoints refuse the key too, and revoking twice is a 404.
        usage = client.get("/v1/usage", headers={"Authorization": f"Bearer {key}"})
        assert usage.status_code == 401
        assert admin.delete(f"/admin/keys/{prefix}").status_code == 404

    with pytest.raises(openai.AuthenticationError):
        sdk(stack, key).chat.completions.create(model="tiny-chat", messages=HELLO, max_tokens=4)


# -- the anonymous demo tier -----------------------------------------------------------------
@pytest.fixture(scope="module")
def anon(stack: EmbeddedStack) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(local_address=ANON_ADDRESS)
    with httpx.Client(base_url=stack.url, transport=transport, timeout=30) as client:
        yield client


def test_anonymous_callers_get_429_after_the_configured_count(
    stack: EmbeddedStack, anon: httpx.Client
) -> None:
    rpm = int(DEMO_LIMITS["per_subject_rpm"])
    warm_router(stack)
    started = time.monotonic()
    # Concurrent (but fewer than the demo in-flight cap) so the burst takes well under the
    # 60/rpm seconds in which the bucket frees one slot.
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(lambda _: chat(anon, None, max_tokens=1), range(rpm)))
    assert [r.status_code for r in first] == [200] * rpm, [r.text for r in first if r.is_error]

    # The next request is refused. On a very slow machine the leaky bucket may have freed a
    # slot per 60/rpm seconds since the burst began; only those may still pass.
    extra_passed = 0
    for _ in range(rpm):
        resp = chat(anon, None, max_tokens=1)
        if resp.status_code != 200:
            break
        extra_passed += 1
    elapsed = time.monotonic() - started
    assert extra_passed <= int(elapsed // (60 / rpm)), f"{extra_passed} passed in {elapsed:.1f}s"
    assert_error(resp, 429, "rate_limit_error", "rate_limit_exceeded")
    retry_after = int(resp.headers["retry-after"])
    assert 1 <= retry_after <= 60


def test_anonymous_max_tokens_is_clamped(stack: EmbeddedStack, anon: httpx.Client) -> None:
    clamp = int(DEMO_LIMITS["max_tokens"])
    warm_router(stack)
    # The previous test used up this address's allowance: honour Retry-After, as a client would.
    deadline = time.monotonic() + 30
    while True:
        resp = chat(anon, None, max_tokens=200)
        if resp.status_code != 429 or time.monotonic() > deadline:
            break
        time.sleep(min(float(resp.headers.get("retry-after", "1")), 5.0))
    assert resp.status_code == 200, resp.text
    usage = resp.json()["usage"]
    assert 0 < usage["completion_tokens"] <= clamp


# -- budgets ---------------------------------------------------------------------------------
def test_tiny_budget_ends_in_402_and_only_served_requests_are_billed(
    stack: EmbeddedStack, admin: httpx.Client
) -> None:
    user_id, key, _ = new_user(admin, "accounts-e2e-budget")
    max_tokens = 4
    # The reservation is a true upper bound (about $0.0000038 for "hi" with 4 output tokens:
    # the prompt's UTF-8 bytes plus template overhead), while a served "hi" bills about
    # $0.0000025, so this budget is spent after one to three requests, never zero.
    budget = Decimal("0.000008")
    resp = admin.put(f"/admin/users/{user_id}/budget", json={"usd": str(budget)})
    assert resp.status_code == 200, resp.text
    assert resp.json()["period"] == "total"

    warm_router(stack)
    served: dict[str, Decimal] = {}
    statuses: list[int] = []
    with httpx.Client(base_url=stack.url, timeout=30) as client:
        for i in range(5):
            rid = f"acct-budget-{uuid.uuid4().hex[:12]}-{i}"
            resp = client.post(
                "/v1/chat/completions",
                json={"model": "tiny-chat", "messages": HELLO, "max_tokens": max_tokens},
                headers={"Authorization": f"Bearer {key}", "x-request-id": rid},
            )
            statuses.append(resp.status_code)
            if resp.status_code == 200:
                served[rid] = header_cost(resp.headers)
            else:
                error = assert_error(resp, 402, "budget_error", "budget_exceeded")
                assert "budget" in error["message"].lower()
        usage = poll_usage(client, key, len(served))

    passed = statuses.count(200)
    assert 1 <= passed <= 3, statuses
    # Once spent, it stays spent: no request after the first 402 gets through.
    assert statuses == [200] * passed + [402] * (5 - passed), statuses
    assert sum(served.values()) > 0
    # Refused requests cost nothing and leave no ledger row.
    assert {row["client_request_id"] for row in usage["data"]} == set(served)


# -- usage -----------------------------------------------------------------------------------
def test_usage_lists_exactly_the_requests_made_and_admin_report_groups_them(
    stack: EmbeddedStack, admin: httpx.Client
) -> None:
    user_id, key, prefix = new_user(admin, "accounts-e2e-usage")
    client = sdk(stack, key)
    sent: dict[str, dict[str, Any]] = {}
    warm_router(stack)
    for model in ("tiny-chat", "tiny-coder", "tiny-chat"):
        rid = f"acct-usage-{uuid.uuid4().hex}"
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=HELLO, max_tokens=4, extra_headers={"x-request-id": rid}
        )
        completion = raw.parse()
        assert completion.usage is not None
        assert raw.headers["x-request-id"] == rid
        sent[rid] = {
            "model": raw.headers["x-motherfluxer-model"],
            "version": raw.headers["x-motherfluxer-version"],
            "tokens_in": completion.usage.prompt_tokens,
            "tokens_out": completion.usage.completion_tokens,
            "cost": Decimal(raw.headers["x-motherfluxer-cost-usd"]),
        }

    with httpx.Client(base_url=stack.url, timeout=30) as http:
        usage = poll_usage(http, key, len(sent))
    rows = {row["client_request_id"]: row for row in usage["data"]}
    assert len(usage["data"]) == len(sent)
    assert set(rows) == set(sent)
    for rid, want in sent.items():
        row = rows[rid]
        assert row["model"] == want["model"]
        assert row["version"] == want["version"]
        assert row["tokens_in"] == want["tokens_in"] > 0
        assert row["tokens_out"] == want["tokens_out"] > 0
        cost = Decimal(row["cost_usd"])
        assert cost == expected_cost(row["model"], row["tokens_in"], row["tokens_out"])
        assert abs(cost - want["cost"]) <= HEADER_USD
        assert row["key_prefix"] == prefix
        assert row["status"] == 200
        assert row["created_at"]
        assert "user_id" not in row  # a user sees their own ledger without internal ids

    total_cost = sum((Decimal(r["cost_usd"]) for r in rows.values()), Decimal(0))
    summary = usage["summary"]
    assert summary["requests"] == len(sent)
    assert summary["tokens_in"] == sum(w["tokens_in"] for w in sent.values())
    assert summary["tokens_out"] == sum(w["tokens_out"] for w in sent.values())
    assert Decimal(summary["cost_usd"]) == total_cost

    # The operator's report for this user, grouped per model, per version and per user.
    resp = admin.get("/admin/usage", params={"user_id": user_id})
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["totals"]["requests"] == len(sent)
    assert Decimal(report["totals"]["cost_usd"]) == total_cost
    assert {r["client_request_id"] for r in report["rows"]} == set(sent)
    by_model = {g["model"]: g["requests"] for g in report["by_model"]}
    assert by_model == dict(Counter(w["model"] for w in sent.values()))
    by_version = {(g["model"], g["version"]): g["requests"] for g in report["by_version"]}
    assert by_version == dict(Counter((w["model"], w["version"]) for w in sent.values()))
    assert [(g["user_id"], g["requests"]) for g in report["by_user"]] == [(user_id, len(sent))]

    # Filters narrow the report; without a user filter this user is one group among others.
    coder = admin.get("/admin/usage", params={"user_id": user_id, "model": "tiny-coder"}).json()
    assert coder["totals"]["requests"] == sum(w["model"] == "tiny-coder" for w in sent.values())
    assert all(r["model"] == "tiny-coder" for r in coder["rows"])
    everyone = admin.get("/admin/usage").json()
    mine = [g for g in everyone["by_user"] if g["user_id"] == user_id]
    assert [g["requests"] for g in mine] == [len(sent)]
    assert everyone["totals"]["requests"] >= len(sent)
