"""Model comparison reports over a real PostgreSQL ledger: two models, every figure checked."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from accounts.model_reports import ReportWindow, report_csv
from accounts.schema import sync_url
from accounts.tiers import DEFAULT_LIMITS, Caller
from accounts.usage import UsageRecord, write_ledger_sync

pytestmark = pytest.mark.asyncio(loop_scope="session")

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _rec(rid: str, model: str, version: str, **fields) -> UsageRecord:
    base = dict(
        request_id=rid,
        model=model,
        version=version,
        instance_id=f"{model}-i1",
        key_prefix="abcdefgh",
        tokens_in=100,
        tokens_out=100,
        cost_usd=Decimal("0.001"),
        latency_ms=1000.0,
        status=200,
        task="chat",
        created_at=T0,
    )
    base.update(fields)
    return UsageRecord(**base)


def _ledger(pg, records) -> None:
    engine = sa.create_engine(sync_url(pg.url()), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            write_ledger_sync(conn, records)
    finally:
        engine.dispose()


def _two_models() -> list[UsageRecord]:
    # fast-model v1: 4 requests, 1 error, latencies 100..400 ms, 3 coding + 1 chat.
    fast = [
        _rec("f1", "fast-model", "v1", latency_ms=100.0, task="coding"),
        _rec("f2", "fast-model", "v1", latency_ms=200.0, task="coding"),
        _rec("f3", "fast-model", "v1", latency_ms=300.0, task="coding"),
        _rec("f4", "fast-model", "v1", latency_ms=400.0, status=502, tokens_out=0, task="chat"),
    ]
    # big-model v2: 2 requests, no error, 1000 ms each, 400 tokens out, $0.01 each, both chat.
    big = [
        _rec("b1", "big-model", "v2", tokens_out=400, cost_usd=Decimal("0.01")),
        _rec("b2", "big-model", "v2", tokens_out=400, cost_usd=Decimal("0.01")),
    ]
    # Outside the window: must not be counted.
    old = [_rec("old", "big-model", "v2", created_at=T0 - timedelta(days=30), status=500)]
    return fast + big + old


KEY = Caller("registered", DEFAULT_LIMITS["registered"], user_id=None, key_prefix="abcdefgh")


async def test_report_lists_both_models_with_every_figure(pg, engine, service) -> None:
    _ledger(pg, _two_models())
    await service.rate_request(KEY, "f1", 5, None)
    await service.rate_request(KEY, "f2", 2, "slow")
    await service.rate_request(KEY, "b1", -1, None)

    window = ReportWindow(since=T0 - timedelta(hours=1), until=T0 + timedelta(hours=1))
    report = await service.model_report(window)
    assert report["total_requests"] == 6
    by = {(m["model"], m["version"]): m for m in report["models"]}
    assert set(by) == {("fast-model", "v1"), ("big-model", "v2")}

    fast = by[("fast-model", "v1")]
    assert fast["requests"] == 4
    assert fast["success_rate"] == 0.75 and fast["error_rate"] == 0.25
    assert fast["latency_ms"] == {"p50": 250.0, "p95": 385.0}
    # Successful requests only: 300 tokens over 0.6 s.
    assert fast["tokens_per_s"] == 500.0
    assert fast["cost_per_request_usd"] == 0.001
    # $0.004 over 700 tokens (400 in, 300 out).
    assert fast["cost_per_1m_tokens_usd"] == pytest.approx(0.004 / 700 * 1e6, rel=1e-6)
    assert fast["feedback"] == {"mean": 3.5, "count": 2}
    assert fast["tasks"]["coding"] == {"requests": 3, "share_of_model": 0.75, "share_of_task": 1.0}
    assert fast["tasks"]["chat"] == {"requests": 1, "share_of_model": 0.25, "share_of_task": 0.3333}

    big = by[("big-model", "v2")]
    assert big["requests"] == 2 and big["error_rate"] == 0.0
    assert big["latency_ms"] == {"p50": 1000.0, "p95": 1000.0}
    assert big["tokens_per_s"] == 400.0
    assert big["cost_per_request_usd"] == 0.01
    assert big["cost_per_1m_tokens_usd"] == 20.0
    assert big["feedback"] == {"mean": -1.0, "count": 1}
    assert big["tasks"] == {"chat": {"requests": 2, "share_of_model": 1.0, "share_of_task": 0.6667}}


async def test_task_filter_and_window(pg, engine, service) -> None:
    _ledger(pg, _two_models())
    coding = await service.model_report(ReportWindow(task="coding"))
    assert [(m["model"], m["requests"]) for m in coding["models"]] == [("fast-model", 3)]
    assert coding["models"][0]["error_rate"] == 0.0

    everything = await service.model_report(ReportWindow())
    big = next(m for m in everything["models"] if m["model"] == "big-model")
    assert big["requests"] == 3 and big["error_rate"] == pytest.approx(0.3333)


async def test_cache_hits_count_as_requests_but_not_in_latency(pg, engine, service) -> None:
    _ledger(
        pg,
        [
            _rec("c0", "m", "v1", latency_ms=800.0),
            _rec("c1", "m", "v1", latency_ms=0.0, cached=True, cost_usd=Decimal(0), task=None),
        ],
    )
    (m,) = (await service.model_report(ReportWindow()))["models"]
    assert m["requests"] == 2
    assert m["latency_ms"] == {"p50": 800.0, "p95": 800.0}
    assert m["tokens_per_s"] == 125.0
    assert set(m["tasks"]) == {"chat", "unknown"}


async def test_csv_has_one_line_per_model_version(pg, engine, service) -> None:
    _ledger(pg, _two_models())
    text = report_csv(await service.model_report(ReportWindow(since=T0 - timedelta(hours=1))))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["model"], r["version"]) for r in rows] == [("big-model", "v2"), ("fast-model", "v1")]
    fast = rows[1]
    assert fast["requests"] == "4" and fast["error_rate"] == "0.25"
    assert fast["p95_latency_ms"] == "385.0" and fast["feedback_count"] == "0"
    assert fast["task_mix"] == "chat=0.25;coding=0.75"
