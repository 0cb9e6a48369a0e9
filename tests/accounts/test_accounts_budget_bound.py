"""Issue 12.1: the budget reservation is a true upper bound, so concurrency cannot overspend.

Billing here is the local tiny model's: its own tokenizer over its chat template, every
request billed its whole `max_tokens`. Before the fix the reservation guessed characters / 4,
and 100 concurrent emoji requests spent over six times their budget.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx2 as httpx
import pytest

from accounts.token_bound import prompt_token_bound
from routing.request_view import RequestView
from tests.accounts.http_rig import MODEL, PRICE_IN, PRICE_OUT
from tests.accounts.tokenizing_upstream import billed_prompt_tokens

EMOJI = "😀🚀🌍🎉" * 30  # 120 emoji, 4 UTF-8 bytes each
CJK = "路由器预算上限测试中文字符" * 15 + "模型实例路由"  # 200 CJK characters
MAX_TOKENS = 16


def _chat(content: str, **extra) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


PROMPTS = {
    "hi": _chat("hi"),
    "emoji": _chat(EMOJI),
    "cjk": _chat(CJK),
    "long system prompt": {
        "model": MODEL,
        "messages": [
            {"role": "system", "content": "You are terse. Ünïcödé ✓ " * 80},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "¿qué? " * 10},
            {"role": "user", "content": EMOJI[:40]},
        ],
    },
}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_bound_is_never_below_what_the_model_bills(name: str) -> None:
    body = PROMPTS[name]
    billed = billed_prompt_tokens(body["messages"])
    assert prompt_token_bound(body) >= billed


def test_the_old_estimate_was_beaten_by_emoji() -> None:
    # The defect the bound replaces: characters / 4 is a small fraction of the billed tokens.
    body = PROMPTS["emoji"]
    old = RequestView.from_messages(body["messages"]).estimated_tokens()
    assert old * 4 < billed_prompt_tokens(body["messages"]) <= prompt_token_bound(body)


def _usd(tokens_in: int, tokens_out: int) -> Decimal:
    return (Decimal(str(PRICE_IN)) * tokens_in + Decimal(str(PRICE_OUT)) * tokens_out) / 10**6


async def _burst(rig, key: str, bodies: list[dict]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=len(bodies), max_keepalive_connections=len(bodies))
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(
        base_url=rig.url, headers=headers, timeout=120, limits=limits
    ) as client:
        return await asyncio.gather(*(client.post("/v1/chat/completions", json=b) for b in bodies))


@pytest.mark.asyncio(loop_scope="session")
async def test_100_concurrent_emoji_and_cjk_requests_stay_within_budget(rig) -> None:
    bodies = [
        {**(PROMPTS["emoji"] if i % 2 else PROMPTS["cjk"]), "max_tokens": MAX_TOKENS}
        for i in range(100)
    ]
    costs = [_usd(billed_prompt_tokens(b["messages"]), MAX_TOKENS) for b in bodies]
    reservations = [_usd(prompt_token_bound(b), MAX_TOKENS) for b in bodies]
    budget = (sum(costs[:10], Decimal(0))).quantize(Decimal("0.000000001"))
    user_id, key = rig.new_user()
    with rig.admin() as admin:
        resp = admin.put(f"/admin/users/{user_id}/budget", json={"usd": str(budget)})
        assert resp.status_code == 200, resp.text

    replies = await _burst(rig, key, bodies)

    statuses = [r.status_code for r in replies]
    assert set(statuses) <= {200, 402}, [r.text for r in replies if r.status_code not in (200, 402)]
    served = statuses.count(200)
    assert 1 <= served <= 10, statuses
    for r in replies:
        if r.status_code == 402:
            assert r.headers["content-type"].startswith("application/json")
            error = r.json()["error"]
            assert (error["type"], error["code"]) == ("budget_error", "budget_exceeded")
            assert "budget" in error["message"].lower()
    rows = rig.ledger(user_id, served)
    assert len(rows) == served
    spent = sum((Decimal(r["cost_usd"]) for r in rows), Decimal(0))
    headers = [Decimal(r.headers["x-motherfluxer-cost-usd"]) for r in replies if r.is_success]
    assert abs(spent - sum(headers, Decimal(0))) <= Decimal("0.000000001") * served
    print(f"\nFIGURES served={served} spent={spent} budget={budget} ratio={spent / budget:.2f}")
    assert spent <= budget + max(reservations), (spent, budget)
    # The bound makes it strict: what was reserved was never beaten.
    assert spent <= budget, (spent, budget, served)
