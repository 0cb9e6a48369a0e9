"""The outcome window: what the record step adds, and when routing sees it."""

from __future__ import annotations

import asyncio

from router.dispatch import DispatchOutcome, Usage
from router.outcomes import OutcomeWindow, observe
from routing.catalog import Catalog, ModelSpec


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


CATALOG = Catalog(models=(ModelSpec(id="a", cost_per_1m_output=2.0), ModelSpec(id="b")))
PLAN = (("a", "v1"), ("b", "v1"))


def _outcome(model: str | None, status: int = 200, attempts: int = 1) -> DispatchOutcome:
    return DispatchOutcome(
        request_id="r",
        model=model,
        version="v1" if model else None,
        instance_id=None,
        status=status,
        usage=Usage(prompt_tokens=10, completion_tokens=50) if model else None,
        attempts=attempts,
        latency_ms=500.0,
        overhead_ms=1.0,
        fallback=model != "a",
    )


def test_failures_hidden_by_failover_count_against_the_first_model() -> None:
    window = OutcomeWindow(clock=Clock())
    for _ in range(10):
        observe(window, CATALOG, PLAN, "chat", _outcome("a"))
        observe(window, CATALOG, PLAN, "chat", _outcome("b", attempts=2))  # a failed, b answered
    observe(window, CATALOG, PLAN, "chat", _outcome(None, status=502, attempts=1))  # gave up
    observe(window, CATALOG, PLAN, "chat", _outcome("a", status=400))  # the caller's mistake
    index = window.rebuild()
    a = index.for_model("a", "chat", "v1")
    b = index.for_model("b", "chat", "v1")
    assert a is not None and b is not None
    assert (a.n, round(a.success_rate, 3)) == (21, round(10 / 21, 3))
    assert (b.n, b.success_rate) == (10, 1.0)
    assert a.p50_ms == 500.0 and a.tokens_per_s == 100.0
    assert a.cost_usd > 0


def test_routing_reads_a_snapshot_rebuilt_at_most_once_a_second_off_the_request() -> None:
    clock = Clock()
    window = OutcomeWindow(clock=clock)

    async def run() -> None:
        first = window.history()  # empty; schedules the first build
        window.add("a", "v1", "chat", ok=True)
        assert window.history() is first, "the build runs after the request, not inside it"
        await asyncio.sleep(0)
        built = window.history()
        assert len(built) == 1
        window.add("b", "v1", "chat", ok=True)
        clock.now += 0.5
        assert window.history() is built
        await asyncio.sleep(0)
        assert window.history() is built, "not rebuilt within the second"
        clock.now += 0.6
        window.history()
        await asyncio.sleep(0)
        assert len(window.history()) == 2

    asyncio.run(run())


def test_old_outcomes_leave_the_window() -> None:
    clock = Clock()
    window = OutcomeWindow(clock=clock, max_age_s=60)
    window.add("a", "v1", "chat", ok=False)
    clock.now += 61
    window.add("a", "v1", "chat", ok=True)
    stats = window.rebuild().for_model("a", "chat", "v1")
    assert stats is not None and (stats.n, stats.success_rate) == (1, 1.0)
    assert window.arm("a", "v1", since=clock.now).n == 1
    assert window.arm("a", "v1", since=clock.now + 1).n == 0
