"""The rolling window of request outcomes per (model, version, task), and its routing snapshot.

The record step adds one entry per ended request (O(1), no I/O). Routing never reads the raw
window: it reads a `HistoryIndex` rebuilt at most once per `refresh_s`, scheduled on the event
loop after the request that found it stale (stale-while-revalidate, like instance health), so no
decision pays for the rebuild. The canary watch reads the same window per version.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from routing.canary import ArmStats
from routing.catalog import Catalog
from routing.history import EMPTY_HISTORY, HistoryIndex, OutcomeStats, with_feedback

if TYPE_CHECKING:
    from router.dispatch import DispatchOutcome

# Outcomes older than this, or past the newest MAX_PER_KEY of a key, leave the window.
MAX_AGE_S = 900.0
MAX_PER_KEY = 1000
REFRESH_S = 1.0
# Upstream statuses that say nothing about the model: the caller's own mistakes, a hang-up.
_NOT_THE_MODELS_FAULT = frozenset(range(400, 500)) - {408, 429}


@dataclass(frozen=True, slots=True)
class Entry:
    at: float
    ok: bool
    latency_ms: float
    tokens_per_s: float
    cost_usd: float


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def aggregate(entries: Iterable[Entry]) -> OutcomeStats:
    rows = list(entries)
    good = [e for e in rows if e.ok]
    latencies = sorted(e.latency_ms for e in good)
    n = len(rows)
    return OutcomeStats(
        n=n,
        success_rate=len(good) / n if n else 0.0,
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        tokens_per_s=sum(e.tokens_per_s for e in good) / len(good) if good else 0.0,
        cost_usd=sum(e.cost_usd for e in rows) / n if n else 0.0,
    )


class OutcomeWindow:
    def __init__(
        self,
        *,
        max_age_s: float = MAX_AGE_S,
        max_per_key: int = MAX_PER_KEY,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[tuple[str, str, str], deque[Entry]] = {}
        self._max_age = max_age_s
        self._max_per_key = max_per_key
        self._refresh_s = refresh_s
        self._clock = clock
        self._index: HistoryIndex = EMPTY_HISTORY
        self._built_at = float("-inf")
        self._pending = False
        # Mean feedback per key, refreshed from the ledger off the hot path (feedback_refresh).
        self._feedback: dict[tuple[str, str, str], tuple[float, int]] = {}
        # Called after each rebuild (the canary watch hangs its evaluation here).
        self.on_refresh: Callable[[], None] | None = None

    def add(
        self,
        model: str,
        version: str,
        task: str,
        *,
        ok: bool,
        latency_ms: float = 0.0,
        tokens_per_s: float = 0.0,
        cost_usd: float = 0.0,
    ) -> None:
        key = (model, version or "", task)
        rows = self._entries.get(key)
        if rows is None:
            rows = self._entries[key] = deque(maxlen=self._max_per_key)
        rows.append(Entry(self._clock(), ok, latency_ms, tokens_per_s, cost_usd))

    def history(self) -> HistoryIndex:
        """The last snapshot; a stale one schedules its rebuild and is still served."""
        if self._clock() - self._built_at >= self._refresh_s and not self._pending:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.rebuild()
            else:
                self._pending = True
                loop.call_soon(self.rebuild)
        return self._index

    def rebuild(self) -> HistoryIndex:
        now = self._clock()
        horizon = now - self._max_age
        stats: dict[tuple[str, str, str], OutcomeStats] = {}
        for key, rows in list(self._entries.items()):
            while rows and rows[0].at < horizon:
                rows.popleft()
            if rows:
                stats[key] = aggregate(rows)
        self._index = HistoryIndex(
            with_feedback(stats, self._feedback) if self._feedback else stats
        )
        self._built_at = now
        self._pending = False
        if self.on_refresh is not None:
            self.on_refresh()
        return self._index

    def set_feedback(self, means: dict[tuple[str, str, str], tuple[float, int]]) -> None:
        """Replace the feedback means; the next rebuild (within `refresh_s`) uses them."""
        self._feedback = dict(means)

    def arm(self, model: str, version: str, since: float) -> ArmStats:
        """One version's outcomes (every task) since `since`, for the canary test."""
        rows = [
            e
            for (m, v, _task), entries in list(self._entries.items())
            if m == model and v == version
            for e in entries
            if e.at >= since
        ]
        good = sorted(e.latency_ms for e in rows if e.ok)
        return ArmStats(
            n=len(rows),
            errors=len(rows) - len(good),
            p95_ms=_percentile(good, 0.95),
            latency_n=len(good),
        )


def observe(
    window: OutcomeWindow,
    catalog: Catalog,
    planned: tuple[tuple[str, str], ...],
    task: str | None,
    outcome: DispatchOutcome,
) -> None:
    """Add one ended dispatch to the window, one entry per attempt known.

    The record step sees how the request ended and how many attempts it took, not each attempt.
    Failover walks the plan in order, so the failed attempts of a request answered by the plan's
    first (model, version) were that version's; when another answered, the first failed at least
    once. A model whose failures failover hides from callers must still lose its success rate.
    """
    task = task or "chat"
    status, attempts, latency_ms = outcome.status, outcome.attempts, outcome.latency_ms
    model, version = outcome.model, outcome.version
    first = planned[0] if planned else None
    if first is not None and attempts > 1:
        failed_on_first = attempts - 1 if (model, version) == first else 1
        for _ in range(failed_on_first):
            window.add(first[0], first[1], task, ok=False)
    if model is None:
        if first is not None and attempts == 1:
            window.add(first[0], first[1], task, ok=False)
        return
    if status in _NOT_THE_MODELS_FAULT or status == 499:
        return
    ok = 200 <= status < 400
    usage = outcome.usage
    out_tokens = usage.completion_tokens if usage is not None else 0
    in_tokens = usage.prompt_tokens if usage is not None else 0
    spec = catalog.get(model)
    cost = (
        (in_tokens * spec.cost_per_1m_input + out_tokens * spec.cost_per_1m_output) / 1e6
        if spec is not None
        else 0.0
    )
    tps = out_tokens / (latency_ms / 1000.0) if ok and latency_ms > 0 else 0.0
    window.add(
        model,
        version or "",
        task,
        ok=ok,
        latency_ms=latency_ms if ok else 0.0,
        tokens_per_s=tps,
        cost_usd=cost,
    )
