"""Model comparison reports: how each model version served, read from the ledger and feedback.

Per (model, version) over a time window, optionally one task: requests, success and error
rates, p50/p95 latency, output tokens per second, cost per request and per 1M tokens, feedback
mean and count, and the share of traffic by task. Cache hits count as requests (they were
served) but not in latency or throughput, which they would flatter.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from accounts.feedback import feedback
from accounts.schema import usage_ledger
from accounts.store import AccountsStore

UNKNOWN_TASK = "unknown"  # ledger rows from before the task column, and cache hits

CSV_COLUMNS = (
    "model",
    "version",
    "requests",
    "success_rate",
    "error_rate",
    "p50_latency_ms",
    "p95_latency_ms",
    "tokens_per_s",
    "cost_per_request_usd",
    "cost_per_1m_tokens_usd",
    "feedback_mean",
    "feedback_count",
    "task_mix",
    "task_share",
)


@dataclass(frozen=True, slots=True)
class ReportWindow:
    since: datetime | None = None
    until: datetime | None = None
    task: str | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        c = usage_ledger.c
        conds: list[sa.ColumnElement[bool]] = []
        if self.since is not None:
            conds.append(c.created_at >= self.since)
        if self.until is not None:
            conds.append(c.created_at < self.until)
        if self.task is not None:
            conds.append(sa.func.coalesce(c.task, UNKNOWN_TASK) == self.task)
        return conds


def _figures_query(window: ReportWindow) -> sa.Select[Any]:
    c = usage_ledger.c
    timed = sa.and_(c.cached.is_(False), c.latency_ms.is_not(None))
    flowing = sa.and_(timed, c.status < 400, c.latency_ms > 0)
    return (
        sa.select(
            c.model,
            c.version,
            sa.func.count().label("requests"),
            sa.func.count().filter(c.status >= 400).label("errors"),
            sa.func.percentile_cont(0.5).within_group(c.latency_ms).filter(timed).label("p50"),
            sa.func.percentile_cont(0.95).within_group(c.latency_ms).filter(timed).label("p95"),
            sa.func.sum(c.tokens_out).filter(flowing).label("flow_tokens"),
            sa.func.sum(c.latency_ms).filter(flowing).label("flow_ms"),
            sa.func.coalesce(sa.func.sum(c.cost_usd), 0).label("cost"),
            sa.func.coalesce(sa.func.sum(c.tokens_in + c.tokens_out), 0).label("tokens"),
            sa.func.avg(feedback.c.score).label("feedback_mean"),
            sa.func.count(feedback.c.score).label("feedback_count"),
        )
        .select_from(usage_ledger.outerjoin(feedback, feedback.c.request_id == c.request_id))
        .where(*window.where())
        .group_by(c.model, c.version)
        .order_by(c.model, c.version)
    )


def _tasks_query(window: ReportWindow) -> sa.Select[Any]:
    c = usage_ledger.c
    task = sa.func.coalesce(c.task, UNKNOWN_TASK).label("task")
    return (
        sa.select(c.model, c.version, task, sa.func.count().label("requests"))
        .where(*window.where())
        .group_by(c.model, c.version, task)
    )


def _round(value: Any, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def _entry(row: Any, tasks: dict[str, int], task_totals: dict[str, int]) -> dict[str, Any]:
    requests = int(row.requests)
    errors = int(row.errors)
    tokens = int(row.tokens)
    cost = float(row.cost)
    flow_s = float(row.flow_ms or 0) / 1000
    return {
        "model": row.model,
        "version": row.version,
        "requests": requests,
        "success_rate": round((requests - errors) / requests, 4),
        "error_rate": round(errors / requests, 4),
        "latency_ms": {"p50": _round(row.p50), "p95": _round(row.p95)},
        "tokens_per_s": _round(int(row.flow_tokens or 0) / flow_s, 2) if flow_s else None,
        "cost_per_request_usd": round(cost / requests, 9),
        "cost_per_1m_tokens_usd": round(cost / tokens * 1e6, 6) if tokens else None,
        "feedback": {"mean": _round(row.feedback_mean), "count": int(row.feedback_count)},
        "tasks": {
            name: {
                "requests": n,
                "share_of_model": round(n / requests, 4),
                "share_of_task": round(n / task_totals[name], 4),
            }
            for name, n in sorted(tasks.items())
        },
    }


async def _report(conn: AsyncConnection, window: ReportWindow) -> list[dict[str, Any]]:
    figures = (await conn.execute(_figures_query(window))).all()
    per_model: dict[tuple[str, str | None], dict[str, int]] = {}
    task_totals: dict[str, int] = {}
    for row in (await conn.execute(_tasks_query(window))).all():
        per_model.setdefault((row.model, row.version), {})[row.task] = int(row.requests)
        task_totals[row.task] = task_totals.get(row.task, 0) + int(row.requests)
    return [_entry(r, per_model.get((r.model, r.version), {}), task_totals) for r in figures]


class ModelReports:
    def __init__(self, store: AccountsStore) -> None:
        self.store = store

    async def model_report(self, window: ReportWindow) -> dict[str, Any]:
        # One snapshot: the figures and the task shares see the same ledger.
        async with self.store.consistent_read() as conn:
            models = await _report(conn, window)
        return {
            "filters": {
                "since": window.since.isoformat() if window.since else None,
                "until": window.until.isoformat() if window.until else None,
                "task": window.task,
            },
            "total_requests": sum(m["requests"] for m in models),
            "models": models,
        }


def _mix(tasks: dict[str, dict[str, float]], field: str) -> str:
    return ";".join(f"{name}={share[field]}" for name, share in tasks.items())


def report_csv(report: dict[str, Any]) -> str:
    """One line per model version; task shares as `task=share` pairs joined by `;`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in report["models"]:
        writer.writerow(
            [
                m["model"],
                m["version"] or "",
                m["requests"],
                m["success_rate"],
                m["error_rate"],
                _blank(m["latency_ms"]["p50"]),
                _blank(m["latency_ms"]["p95"]),
                _blank(m["tokens_per_s"]),
                m["cost_per_request_usd"],
                _blank(m["cost_per_1m_tokens_usd"]),
                _blank(m["feedback"]["mean"]),
                m["feedback"]["count"],
                _mix(m["tasks"], "share_of_model"),
                _mix(m["tasks"], "share_of_task"),
            ]
        )
    return out.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value
