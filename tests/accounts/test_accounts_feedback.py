"""Issue 16.2/16.4 over HTTP: ratings only by the requester's key, then the model report.

The real router with accounts serves two models (both in front of the tokenizing upstream);
ratings and the report are read back through the public endpoints and the real ledger.
"""

from __future__ import annotations

import csv
import io
import tempfile
import time
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from accounts.schema import sync_url
from tests.accounts.http_rig import HttpRig
from tests.support.router_harness import catalog_doc, model_doc, start_router

MODELS = ("tiny-chat", "other-chat")


@pytest.fixture(scope="module")
def two_models(moto_endpoint, pg, redis_server, workdir, tokenizing_upstream):
    catalog = catalog_doc(
        *(
            model_doc(m, cost_per_1m_input=0.1, cost_per_1m_output=0.2, max_output_tokens=256)
            for m in MODELS
        ),
        accounts={"registered_max_in_flight": 128},
    )
    harness = start_router(
        moto_endpoint,
        catalog,
        database_url=pg.url(),
        redis_url=redis_server.url,
        data_dir=tempfile.mkdtemp(prefix="rig-", dir=workdir),
    )
    for model in MODELS:
        harness.add_instance(model, tokenizing_upstream.url, instance_id=f"{model}-i1")
    yield HttpRig(harness, tokenizing_upstream, pg.url())
    harness.stop()


def _chat(client: httpx.Client, model: str, **headers: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    resp = client.post("/v1/chat/completions", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp


def _wait_for(database_url: str, request_ids: list[str], timeout_s: float = 15.0) -> None:
    """Until the outbox has drained these requests into the ledger (about every 0.2 s)."""
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    query = sa.text("SELECT count(*) FROM usage_ledger WHERE request_id = ANY(:ids)")
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            with engine.connect() as conn:
                if conn.execute(query, {"ids": request_ids}).scalar_one() == len(request_ids):
                    return
            assert time.monotonic() < deadline, "requests never reached the ledger"
            time.sleep(0.1)
    finally:
        engine.dispose()


def _stored(database_url: str, request_id: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT * FROM feedback WHERE request_id = :r"), {"r": request_id}
            ).mappings()
            return [dict(r) for r in rows]
    finally:
        engine.dispose()


def _second_key(rig: HttpRig, user_id: str) -> str:
    with rig.admin() as admin:
        resp = admin.post(f"/admin/users/{user_id}/keys", json={})
        assert resp.status_code == 201, resp.text
        return resp.json()["key"]


def test_only_the_requesting_key_may_rate_and_may_change_it(two_models) -> None:
    rig = two_models
    owner_id, owner_key = rig.new_user()
    _, stranger_key = rig.new_user()
    sibling_key = _second_key(rig, owner_id)
    with rig.client(owner_key) as owner:
        rid = _chat(owner, "tiny-chat").headers["x-motherfluxer-request-id"]
    _wait_for(rig.database_url, [rid])

    for other in (stranger_key, sibling_key):
        with rig.client(other) as client:
            resp = client.post("/v1/feedback", json={"request_id": rid, "score": 1})
        assert resp.status_code == 404, resp.text
        assert resp.json()["error"]["type"]
    assert _stored(rig.database_url, rid) == []

    with rig.client(owner_key) as owner:
        first = owner.post("/v1/feedback", json={"request_id": rid, "score": -1, "comment": "meh"})
        assert first.status_code == 200, first.text
        again = owner.post("/v1/feedback", json={"request_id": rid, "score": 1})
        assert again.status_code == 200, again.text
    assert first.json()["updated"] is False and again.json()["updated"] is True
    assert first.json()["model"] == "tiny-chat" and first.json()["version"] == "v1"
    assert first.json()["instance_id"] == "tiny-chat-i1"
    (row,) = _stored(rig.database_url, rid)
    assert (row["score"], row["comment"], row["model"]) == (1, None, "tiny-chat")
    assert (row["version"], row["instance_id"]) == ("v1", "tiny-chat-i1")
    assert row["task"] and row["task"] == first.json()["task"]


def test_the_callers_own_request_id_works_when_it_names_one_request(two_models) -> None:
    rig = two_models
    _, key = rig.new_user()
    with rig.client(key) as client:
        ids = [
            _chat(client, "tiny-chat", **{"x-request-id": "mine-1"}),
            _chat(client, "tiny-chat", **{"x-request-id": "twice"}),
            _chat(client, "tiny-chat", **{"x-request-id": "twice"}),
        ]
        _wait_for(rig.database_url, [r.headers["x-motherfluxer-request-id"] for r in ids])
        mine = client.post("/v1/feedback", json={"request_id": "mine-1", "score": 4})
        ambiguous = client.post("/v1/feedback", json={"request_id": "twice", "score": 4})
        unknown = client.post("/v1/feedback", json={"request_id": "req_nope", "score": 4})
    assert mine.status_code == 200, mine.text
    assert mine.json()["request_id"] == ids[0].headers["x-motherfluxer-request-id"]
    assert ambiguous.status_code == 404 and unknown.status_code == 404


@pytest.mark.parametrize("score", [0, 6, -2, 2.5, "1", True, None])
def test_scores_outside_the_two_scales_are_refused(two_models, score) -> None:
    _, key = two_models.new_user()
    with two_models.client(key) as client:
        resp = client.post("/v1/feedback", json={"request_id": "req_x", "score": score})
    assert resp.status_code == 400, resp.text


def test_report_lists_both_models_as_json_and_csv(two_models) -> None:
    rig = two_models
    _, key = rig.new_user()
    with rig.client(key) as client:
        served = {m: [_chat(client, m) for _ in range(3)] for m in MODELS}
        ids = {m: [r.headers["x-motherfluxer-request-id"] for r in rs] for m, rs in served.items()}
        _wait_for(rig.database_url, ids["tiny-chat"] + ids["other-chat"])
        for rid, score in zip(ids["tiny-chat"][:2], (5, 3), strict=True):
            assert client.post("/v1/feedback", json={"request_id": rid, "score": score}).is_success
        forbidden = client.get("/admin/reports/models")
    assert forbidden.status_code == 403

    with rig.admin() as admin:
        report = admin.get("/admin/reports/models")
        as_csv = admin.get("/admin/reports/models", params={"format": "csv"})
        by_accept = admin.get("/admin/reports/models", headers={"Accept": "text/csv"})
    assert report.status_code == 200, report.text
    by = {m["model"]: m for m in report.json()["models"]}
    assert set(MODELS) <= set(by)
    for model in MODELS:
        figures = by[model]
        assert figures["requests"] >= 3 and figures["success_rate"] == 1.0
        assert figures["latency_ms"]["p50"] > 0 and figures["latency_ms"]["p95"] > 0
        assert figures["tokens_per_s"] > 0
        assert figures["cost_per_request_usd"] > 0 and figures["cost_per_1m_tokens_usd"] > 0
        assert sum(t["share_of_model"] for t in figures["tasks"].values()) == pytest.approx(1.0)
    assert by["tiny-chat"]["feedback"]["count"] >= 2
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert by_accept.text == as_csv.text
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(as_csv.text))}
    assert set(MODELS) <= set(rows)
    assert rows["other-chat"]["requests"] == str(by["other-chat"]["requests"])
