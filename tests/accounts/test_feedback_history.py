"""Feedback joins the history score: ratings in the ledger reach the routing reason.

The real router with accounts (embedded PostgreSQL and Redis) answers 20 auto requests; five of
them are rated thumbs down through `POST /v1/feedback`; after the refresher's query (off the hot
path) the reason shows the model's feedback beside its success rate, and it costs score.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from accounts.schema import sync_url
from tests.accounts.http_rig import MODEL, HttpRig

PROMPT = "hello there, how are you doing today?"


def _auto(client: httpx.Client, n: int) -> httpx.Response:
    # A different prompt each time: a response-cache hit is not an outcome.
    content = f"{PROMPT} ({n})"
    body = {"model": "auto", "messages": [{"role": "user", "content": content}], "max_tokens": 4}
    resp = client.post("/v1/chat/completions", json=body)
    assert resp.status_code == 200, resp.text
    return resp


def _reason_with(client: httpx.Client, text: str, first: int, timeout_s: float = 5.0) -> str:
    """The route reason once it contains `text`: the window rebuilds at most once a second,
    scheduled by the first request that finds it stale."""
    deadline = time.monotonic() + timeout_s
    turn = first
    reason = _auto(client, turn).headers["x-motherfluxer-route-reason"]
    while text not in reason and time.monotonic() < deadline:
        time.sleep(0.2)
        turn += 1
        reason = _auto(client, turn).headers["x-motherfluxer-route-reason"]
    return reason


def _ledger_has(database_url: str, ids: list[str], timeout_s: float = 15.0) -> None:
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    query = sa.text("SELECT count(*) FROM usage_ledger WHERE request_id = ANY(:ids)")
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                if conn.execute(query, {"ids": ids}).scalar_one() == len(ids):
                    return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError("ledger rows did not arrive")


def _refresh_feedback(rig: HttpRig) -> dict:
    """Run the router's own feedback refresh now, on its own event loop."""
    policy = rig.harness._server.config.app.state.policy
    refresher = policy.feedback_refresh
    loop = refresher._task.get_loop()
    return asyncio.run_coroutine_threadsafe(refresher.refresh_once(), loop).result(10)


def test_thumbs_down_ratings_show_in_the_reason_and_lower_the_history_score(rig: HttpRig) -> None:
    _, key = rig.new_user()
    with rig.client(key) as c:
        answers = [_auto(c, i) for i in range(20)]
        ids = [a.headers["x-motherfluxer-request-id"] for a in answers]
        _ledger_has(rig.database_url, ids)
        before = _reason_with(c, "history: success", 50)
        for rid in ids[:5]:
            rated = c.post("/v1/feedback", json={"request_id": rid, "score": -1})
            assert rated.status_code in (200, 201), rated.text
    means = _refresh_feedback(rig)
    task = answers[0].headers["x-motherfluxer-task"]
    version = answers[0].headers["x-motherfluxer-version"]
    mean, n = means[(MODEL, version, task)]
    assert n >= 5 and mean <= -0.5
    with rig.client(key) as c:
        reason = _reason_with(c, "feedback", 100)
    found = re.search(
        r"history: success (\d\.\d\d) \(n=\d+\) feedback (-\d\.\d\d) \(n=(\d+)\) ([+-]\d\.\d\d)",
        reason,
    )
    assert found, reason
    assert float(found.group(2)) <= -0.5 and int(found.group(3)) == n
    old = re.search(r"history: success \d\.\d\d \(n=\d+\) ([+-]\d\.\d\d)", before)
    assert old, before
    assert float(found.group(4)) < float(old.group(1))


def test_feedback_means_normalise_thumbs_and_stars(rig: HttpRig) -> None:
    from accounts.feedback_stats import feedback_means

    _, key = rig.new_user()
    with rig.client(key) as c:
        ids = [
            c.post(
                "/v1/chat/completions",
                json={
                    "model": MODEL,
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": 2,
                },
            ).headers["x-motherfluxer-request-id"]
            for _ in range(2)
        ]
        _ledger_has(rig.database_url, ids)
        since = datetime.now(UTC) - timedelta(milliseconds=50)
        for rid, score in zip(ids, (5, 2), strict=True):
            assert c.post("/v1/feedback", json={"request_id": rid, "score": score}).status_code in (
                200,
                201,
            )

    async def read() -> dict:
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(sync_url(rig.database_url))
        try:
            return await feedback_means(engine, since)
        finally:
            await engine.dispose()

    means = asyncio.run(read())
    # Five stars is +1, two stars -0.5: the mean of this test's two ratings is +0.25.
    assert list(means.values()) == [(0.25, 2)], means
