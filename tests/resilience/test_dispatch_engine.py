"""The dispatcher carries out `routing.retry`'s decisions and decides nothing of its own:
its failover order, deadline margin, give-ups and budget are the pure engine's."""

from __future__ import annotations

import asyncio
import time
from random import Random

import orjson
import pytest

from router.dispatch import Dispatcher, DispatchOutcome, DispatchRequest
from router.errors import APIError
from router.passive import BudgetedRetries
from router.upstream.base import BufferedReply, Timeouts, UpstreamFailure
from routing.instances import Instance
from routing.outcome import Outcome
from routing.retry import BudgetPolicy, RetryPolicy

ANSWER = orjson.dumps(
    {"choices": [{"message": {"role": "assistant", "content": "hi"}}], "usage": {}}
)


def inst(iid: str, model: str = "m") -> Instance:
    return Instance(instance_id=iid, model=model, version="v1", kind="fake", endpoint="x")


class FakeClient:
    """Fails with `failures[instance_id]` when listed, answers otherwise."""

    def __init__(self, failures: dict[str, Outcome]) -> None:
        self.failures = failures
        self.calls: list[tuple[str, Timeouts]] = []

    async def send(self, instance, path, payload, *, stream, timeouts):
        self.calls.append((instance.instance_id, timeouts))
        if instance.instance_id in self.failures:
            raise UpstreamFailure(self.failures[instance.instance_id])
        return BufferedReply(status=200, body=ANSWER)

    async def aclose(self) -> None:
        return None


class FakeHealth:
    def __init__(self, probes: dict[str, float] | None = None) -> None:
        self.probes = probes or {}
        self.records: list[tuple[str, Outcome]] = []

    def admit(self, instance: Instance) -> float | None:
        return self.probes.get(instance.instance_id, 0.0)

    def record(self, instance: Instance, outcome: Outcome, latency_ms: float) -> None:
        self.records.append((instance.instance_id, Outcome(outcome)))

    def cool_down(self, instance: Instance, seconds: float) -> None:
        return None


def picker(pools: dict[str, list[Instance]]):
    def pick(model: str, version: str, exclude: set[str]) -> Instance | None:
        return next((i for i in pools.get(model, []) if i.instance_id not in exclude), None)

    return pick


def dispatcher(client: FakeClient, health: FakeHealth, retries: BudgetedRetries) -> Dispatcher:
    return Dispatcher(
        clients={"fake": client},
        health=health,
        retries=retries,
        connect_timeout_s=1.0,
        first_byte_timeout_s=5.0,
        stall_timeout_s=5.0,
        request_timeout_s=20.0,
    )


def request(deadline_in_s: float = 20.0, models: tuple[str, ...] = ("m",)) -> DispatchRequest:
    now = time.perf_counter()
    return DispatchRequest(
        request_id="req-test-0001",
        path="/v1/chat/completions",
        body={"messages": [{"role": "user", "content": "hi"}]},
        stream=False,
        candidates=tuple((m, "v1") for m in models),
        reason="test",
        started=now,
        deadline=now + deadline_in_s,
    )


def run(d: Dispatcher, req: DispatchRequest, pools: dict[str, list[Instance]]):
    outcomes: list[DispatchOutcome] = []
    try:
        return asyncio.run(d.run(req, picker(pools), outcomes.append)), outcomes
    except APIError as err:
        return err, outcomes


def test_fails_over_in_the_engines_order_then_to_the_fallback_model() -> None:
    client = FakeClient({"a": Outcome.http_5xx, "b": Outcome.conn_reset})
    health = FakeHealth()
    pools = {"m": [inst("a"), inst("b")], "f": [inst("c", "f")]}
    answer, outcomes = run(
        dispatcher(client, health, BudgetedRetries(rng=Random(1))),
        request(models=("m", "f")),
        pools,
    )
    assert [c for c, _ in client.calls] == ["a", "b", "c"]
    assert answer.route.instance_id == "c" and answer.route.attempts == 3
    assert outcomes[0].fallback is True and outcomes[0].status == 200
    assert health.records == [("a", Outcome.http_5xx), ("b", Outcome.conn_reset), ("c", "ok")]


def test_the_one_deadline_margin_is_the_engines() -> None:
    # 1.1 s left: less than the 1 s margin plus the shortest attempt (0.25 s). The engine says
    # there is no time for an attempt, so no upstream call is made and the client gets a 504.
    client = FakeClient({})
    d = dispatcher(client, FakeHealth(), BudgetedRetries())
    err, outcomes = run(d, request(deadline_in_s=1.1), {"m": [inst("a")]})
    assert isinstance(err, APIError) and err.status == 504 and err.code == "upstream_timeout"
    assert client.calls == []
    assert outcomes[0].status == 504


def test_every_attempt_timeout_leaves_the_margin() -> None:
    client = FakeClient({})
    run(dispatcher(client, FakeHealth(), BudgetedRetries()), request(3.0), {"m": [inst("a")]})
    ((_, timeouts),) = client.calls
    assert timeouts.total <= 3.0 - RetryPolicy().deadline_margin_s


def test_a_spent_budget_gives_up_and_hands_an_unsent_probe_back() -> None:
    client = FakeClient({"a": Outcome.http_5xx})
    health = FakeHealth(probes={"p": 10.0})  # "p" is half-open: admitting it claims its probe
    none_left = BudgetPolicy(ratio=0.0, min_concurrent=0, min_per_window=0)
    err, _ = run(
        dispatcher(client, health, BudgetedRetries(budget=none_left)),
        request(),
        {"m": [inst("a"), inst("p")]},
    )
    assert isinstance(err, APIError) and err.code == "retry_budget_exhausted"
    assert err.status == 503 and err.headers()["Retry-After"] == "1"
    assert [c for c, _ in client.calls] == ["a"]
    assert health.records == [("a", Outcome.http_5xx), ("p", Outcome.cancelled)]


@pytest.mark.parametrize(
    ("outcome", "status", "code"),
    [
        (Outcome.http_429, 429, "upstream_rate_limited"),
        (Outcome.timeout_first_byte, 504, "upstream_timeout"),
        (Outcome.malformed, 502, "upstream_failed"),
        (Outcome.conn_refused, 503, "no_healthy_instance"),
    ],
)
def test_give_ups_read_as_the_engine_classifies_them(
    outcome: Outcome, status: int, code: str
) -> None:
    client = FakeClient({"a": outcome})
    err, _ = run(dispatcher(client, FakeHealth(), BudgetedRetries()), request(), {"m": [inst("a")]})
    assert isinstance(err, APIError) and (err.status, err.code) == (status, code)
