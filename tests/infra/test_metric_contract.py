"""Every dashboard line and alarm watches a series the code really emits.

The emitters run for real (RouterMetrics through Powertools, the health checker's emit), their
EMF is read back, and each query of the synthesized templates (dashboards, monitoring alarms,
the scale-to-zero alarms) must name exactly an emitted (namespace, metric, dimension set,
service). Powertools adds `service` to every document, so a query without it fails here.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from contracts import metrics as contract
from tests.infra.conftest import ROOT, Synth
from tests.infra.emf_audit import emitted, queries, read_emf_lines, unmatched

pytestmark = pytest.mark.synth

# Contract metrics whose call site the router does not have yet (none: `WakeRequests` is
# counted by router/wake.py). The test below fails as soon as a call site appears for one
# listed here, or a contract metric loses its last one, so the list cannot go stale.
AWAITING_CALL_SITE: set[str] = set()


def count_call_sites() -> dict[tuple[str, frozenset[str]], str]:
    """`<...>metrics.count("Name", ..., dim=...)` calls in lambdas/: (name, dims) -> where."""
    sites: dict[tuple[str, frozenset[str]], str] = {}
    for path in sorted((ROOT / "lambdas").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            owner_name = (
                owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            )
            if node.func.attr != "count" or "metrics" not in owner_name:
                continue
            if not (node.args and isinstance(node.args[0], ast.Constant)):
                continue
            dims = frozenset(k.arg for k in node.keywords if k.arg is not None)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            sites[(str(node.args[0].value), dims)] = where
    return sites


@pytest.fixture(scope="module")
def emf_documents(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    import health_checker.metrics as health_metrics
    from health_checker.probe import CheckReport
    from router.dispatch import Outcome, Usage
    from router.metrics import RouterMetrics

    sink = tmp_path_factory.mktemp("emf") / "metrics.emf.jsonl"
    mp = pytest.MonkeyPatch()
    mp.setenv("MOTHERFLUXER_EMF_FILE", str(sink))
    mp.setenv("AWS_LAMBDA_FUNCTION_NAME", "motherfluxer-test-router")
    mp.setattr(RouterMetrics, "_cold", True)
    mp.setattr(health_metrics, "_cold", True)
    try:
        metrics = RouterMetrics()
        for status, attempts, fallback in ((200, 1, False), (503, 3, True)):
            metrics.record(
                Outcome(
                    request_id="r",
                    model="m",
                    version="v1",
                    instance_id="i",
                    status=status,
                    usage=Usage(prompt_tokens=3, completion_tokens=5),
                    attempts=attempts,
                    latency_ms=12.0,
                    overhead_ms=0.4,
                    fallback=fallback,
                )
            )
        # Replay every count() call site of the code with its own dimension names.
        for name, dims in count_call_sites():
            metrics.count(name, 1.0, **{d: "x" for d in dims})
        for name in AWAITING_CALL_SITE:
            spec = contract.COUNTED_METRICS[name]
            metrics.count(name, 1.0, **{d: "x" for d in spec.dimensions})
        health_metrics.emit(
            CheckReport(
                probed=2,
                healthy_by_model={"m": 1},
                unhealthy_by_model={"m": 1},
                changed=[],
                lost_races=0,
            )
        )
    finally:
        mp.undo()
    return read_emf_lines(sink.read_text().splitlines())


def test_every_count_call_site_matches_the_contract() -> None:
    sites = count_call_sites()
    assert sites, "expected the accounts policy to count rate limits, budgets and cost"
    for (name, dims), where in sites.items():
        spec = contract.COUNTED_METRICS.get(name)
        assert spec is not None, f"{where}: {name} is not in contracts.metrics"
        assert dims == frozenset(spec.dimensions), f"{where}: {name}{sorted(dims)} != {spec}"


def test_awaiting_list_is_exactly_the_contract_metrics_without_a_call_site() -> None:
    called = {name for name, _ in count_call_sites()}
    assert set(contract.COUNTED_METRICS) - called == AWAITING_CALL_SITE


def test_emitted_documents_carry_the_service_dimension(emf_documents: list[dict]) -> None:
    names = {m["Name"] for d in emf_documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {spec.name for spec in contract.ALL_METRICS} <= names
    for doc in emf_documents:
        for dims in doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"]:
            assert "service" in dims
    series = emitted(emf_documents)
    for spec in contract.ALL_METRICS:
        assert any(
            s.name == spec.name and s.dimensions == spec.emitted_dimensions for s in series
        ), spec


def test_every_dashboard_and_alarm_query_matches_an_emitted_series(
    synth: Synth, emf_documents: list[dict]
) -> None:
    found = list(queries(synth.templates))
    where = {q.where.split("/")[0] for q in found}
    # Both stages' monitoring and model stacks are read (dashboards, alarms, scaling alarms).
    for stage in ("dev", "prod"):
        assert f"MotherFluxer-{stage}-Monitoring" in where
        assert f"MotherFluxer-{stage}-Models" in where
    kinds = {q.where.split("/")[1].rstrip("0123456789ABCDEF") for q in found}
    assert any("Overview" in k for k in kinds) and any("ErrorRate" in k for k in kinds)
    assert len(found) > 100
    assert unmatched(found, emitted(emf_documents)) == []


def test_cost_is_emitted_and_charted_per_model_and_version(
    synth: Synth, emf_documents: list[dict]
) -> None:
    """Seed 000's version-specific monitoring: cost is split by the version that answered."""
    assert set(contract.COST_USD.dimensions) == {"model", "version"}
    sites = [dims for (name, dims) in count_call_sites() if name == "CostUsd"]
    assert sites and all(dims == {"model", "version"} for dims in sites)
    assert any(
        s.name == "CostUsd" and s.dimensions == {"model", "version", "service"}
        for s in emitted(emf_documents)
    )
    cost = [q for q in queries(synth.templates) if q.series.name == "CostUsd"]
    assert cost and all(q.series.dimensions == {"model", "version", "service"} for q in cost)
    # prod's phi-2 has two versions: the model's dashboard draws one cost line for each.
    body = "".join(
        json.dumps(d["Properties"]["DashboardBody"])
        for d in synth.template("prod", "Monitoring")["Resources"].values()
        if d["Type"] == "AWS::CloudWatch::Dashboard"
    )
    for version in ("v1", "v2"):
        assert f"cost phi-2 {version}" in body, version


def test_dynamodb_throttles_are_queried_per_operation(synth: Synth) -> None:
    # AWS/DynamoDB files ThrottledRequests under TableName + Operation; TableName alone is an
    # empty series.
    for stage in ("dev", "prod"):
        text = json.dumps(synth.template(stage, "Monitoring"))
        assert "ThrottledRequests" in text
        for resource in synth.template(stage, "Monitoring")["Resources"].values():
            props = resource.get("Properties", {})
            for query in props.get("Metrics", []):
                metric = query.get("MetricStat", {}).get("Metric", {})
                if metric.get("MetricName") == "ThrottledRequests":
                    names = {d["Name"] for d in metric["Dimensions"]}
                    assert names == {"TableName", "Operation"}


def test_local_stack_writes_emf_where_the_contract_says(tmp_path: Path) -> None:
    from devstack.stack import EmbeddedStack, StackOptions

    stack = EmbeddedStack(StackOptions(data_dir=tmp_path))
    env = stack.router_environment({})
    assert env["MOTHERFLUXER_EMF_FILE"] == str(tmp_path / "logs" / "metrics.emf.jsonl")
