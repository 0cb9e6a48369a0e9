"""Overview dashboard widgets: one row per model (a line per version) and a router row.

Custom metrics come from `metric_queries.contract_metric`, so each line reads a series the
router or the health checker really emits (seed 000: version-specific monitoring).
"""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cw

from accounts.tiers import TIERS
from contracts import metrics as contract
from infra.config import ModelConfig
from infra.metric_queries import contract_metric, per_version

WIDTH = 12


def model_row(model: ModelConfig) -> list[cw.IWidget]:
    """Traffic, latency, overhead, resilience, tokens, cost and health of one model."""
    versions = [(model.id, v.version) for v in model.versions]
    title = f"{model.id} ({model.hosting.kind})"
    return [
        cw.TextWidget(markdown=f"## {title}", width=24, height=1),
        cw.GraphWidget(
            title=f"{model.id}: requests / errors per version",
            left=per_version(contract.REQUESTS, versions),
            right=[
                *per_version(contract.ERRORS, versions, label_prefix="errors "),
                *per_version(contract.ERRORS_5XX, versions, label_prefix="5xx "),
            ],
            width=8,
        ),
        cw.GraphWidget(
            title=f"{model.id}: latency p50 / p99 (ms)",
            left=[
                *per_version(contract.LATENCY_MS, versions, "p50", label_prefix="p50 "),
                *per_version(contract.LATENCY_MS, versions, "p99", label_prefix="p99 "),
            ],
            width=8,
        ),
        cw.GraphWidget(
            title=f"{model.id}: router overhead p50 / p99 (ms)",
            left=[
                *per_version(contract.OVERHEAD_MS, versions, "p50", label_prefix="p50 "),
                *per_version(contract.OVERHEAD_MS, versions, "p99", label_prefix="p99 "),
            ],
            width=8,
        ),
        cw.GraphWidget(
            title=f"{model.id}: fallbacks / retries",
            left=per_version(contract.FALLBACKS, versions, label_prefix="fallbacks "),
            right=per_version(contract.RETRIES, versions, label_prefix="retries "),
            width=8,
        ),
        cw.GraphWidget(
            title=f"{model.id}: tokens in / out",
            left=per_version(contract.TOKENS_IN, versions, label_prefix="in "),
            right=per_version(contract.TOKENS_OUT, versions, label_prefix="out "),
            width=8,
        ),
        cw.GraphWidget(
            title=f"{model.id}: cost (USD) per version / healthy instances",
            left=per_version(contract.COST_USD, versions, label_prefix="cost "),
            right=[
                contract_metric(
                    contract.HEALTHY_INSTANCES, "Minimum", label="healthy", model=model.id
                ),
                contract_metric(
                    contract.UNHEALTHY_INSTANCES, "Maximum", label="unhealthy", model=model.id
                ),
            ],
            width=8,
        ),
    ]


def router_row(models: list[ModelConfig], cold_start_functions: dict[str, str]) -> list[cw.IWidget]:
    """Admission outcomes (rate limits per tier, budgets per model) and cold starts."""
    ids = [m.id for m in models]
    return [
        cw.TextWidget(markdown="## Router admission and cold starts", width=24, height=1),
        cw.GraphWidget(
            title="Rate limited per tier",
            left=[contract_metric(contract.RATE_LIMITED, label=t, tier=t) for t in TIERS],
            width=8,
        ),
        cw.GraphWidget(
            title="Budget alerts (80%) / budget rejections per model",
            left=[
                contract_metric(contract.BUDGET_USAGE_80, label=f"80% {m}", model=m) for m in ids
            ],
            right=[
                contract_metric(contract.BUDGET_REJECTED, label=f"rejected {m}", model=m)
                for m in ids
            ],
            width=8,
        ),
        cw.GraphWidget(
            title="Lambda cold starts",
            left=[
                contract_metric(spec, label=label, function_name=name)
                for label, (spec, name) in _cold_start_specs(cold_start_functions).items()
            ],
            width=8,
        ),
    ]


def _cold_start_specs(functions: dict[str, str]) -> dict[str, tuple[contract.MetricSpec, str]]:
    """label -> (ColdStart spec of the emitting service, function name)."""
    return {
        label: (
            contract.HEALTH_COLD_START if label == "health-checker" else contract.ROUTER_COLD_START,
            name,
        )
        for label, name in functions.items()
    }
