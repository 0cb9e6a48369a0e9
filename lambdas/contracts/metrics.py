"""The metric contract: namespace, names, units and the exact dimension set of each metric.

Powertools adds a `service` dimension to every document it serializes, so CloudWatch files a
metric under the emitter's own dimensions *plus* `service`. A dashboard or alarm that names
any other set reads a different (empty) series. `MetricSpec.query()` is the only way the
monitoring stack builds dimensions, and the emitters validate theirs against the same spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

NAMESPACE = "MotherFluxer"
SERVICE_DIMENSION = "service"

# Powertools `service` per function (POWERTOOLS_SERVICE_NAME).
ROUTER_SERVICE = "router"
HEALTH_CHECKER_SERVICE = "health-checker"
USAGE_DRAINER_SERVICE = "usage-drainer"
MIGRATIONS_SERVICE = "migrations"

COUNT = "Count"
MILLISECONDS = "Milliseconds"
NONE = "None"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    service: str
    dimensions: tuple[str, ...]
    unit: str = COUNT

    @property
    def emitted_dimensions(self) -> frozenset[str]:
        """What CloudWatch files the metric under: ours plus Powertools' `service`."""
        return frozenset((*self.dimensions, SERVICE_DIMENSION))

    def check(self, dims: Mapping[str, str]) -> None:
        """Raise if an emitter's dimensions are not exactly this metric's."""
        if set(dims) != set(self.dimensions):
            raise ValueError(
                f"{self.name} takes dimensions {sorted(self.dimensions)}, got {sorted(dims)}"
            )

    def query(self, **values: str) -> dict[str, str]:
        """Dimensions for a dashboard or alarm query: exactly the emitted set, service included."""
        self.check(values)
        return {**values, SERVICE_DIMENSION: self.service}


def _router(name: str, *dims: str, unit: str = COUNT) -> MetricSpec:
    return MetricSpec(name, ROUTER_SERVICE, dims, unit)


def _health(name: str, *dims: str) -> MetricSpec:
    return MetricSpec(name, HEALTH_CHECKER_SERVICE, dims)


# One document per routed request (RouterMetrics.record), per model and version.
REQUESTS = _router("Requests", "model", "version")
LATENCY_MS = _router("LatencyMs", "model", "version", unit=MILLISECONDS)
OVERHEAD_MS = _router("OverheadMs", "model", "version", unit=MILLISECONDS)
ERRORS = _router("Errors", "model", "version")
ERRORS_5XX = _router("Errors5xx", "model", "version")
RETRIES = _router("Retries", "model", "version")
FALLBACKS = _router("Fallbacks", "model", "version")
TOKENS_IN = _router("TokensIn", "model", "version")
TOKENS_OUT = _router("TokensOut", "model", "version")
# Counted by the accounts policy (RouterMetrics.count) after admission or settlement. Cost is
# settled per answered request, so it carries the version that answered (seed 000's
# version-specific monitoring; "none" when no version answered); budgets are per model.
COST_USD = _router("CostUsd", "model", "version", unit=NONE)
BUDGET_REJECTED = _router("BudgetRejected", "model")
BUDGET_USAGE_80 = _router("BudgetUsage80", "model")
RATE_LIMITED = _router("RateLimited", "tier")
# A request wanted a model that has no routable instance (asleep or waking); the ECS
# scale-to-zero policy wakes the model on it (infra/ecs_models.py).
WAKE_REQUESTS = _router("WakeRequests", "model")
# A canary version the router rolled back on its own (router/canary_watch.py).
CANARY_ROLLBACKS = _router("CanaryRollbacks", "model", "version")
# Priority queueing (router/dispatch/queue.py): the wait queue's depth as a request joins it,
# and requests refused by a full self-hosted model (reason: queue_full or queue_timeout).
QUEUE_DEPTH = _router("QueueDepth", "model")
QUEUE_REJECTED = _router("QueueRejected", "model", "reason")
# Once per execution environment, on its first request (router, streamer, health checker).
ROUTER_COLD_START = _router("ColdStart", "function_name")
HEALTH_COLD_START = _health("ColdStart", "function_name")

# One document per model per health round (health checker).
HEALTHY_INSTANCES = _health("HealthyInstances", "model")
UNHEALTHY_INSTANCES = _health("UnhealthyInstances", "model")
NO_HEALTHY_INSTANCE = _health("NoHealthyInstance", "model")

REQUEST_METRICS: tuple[MetricSpec, ...] = (
    REQUESTS,
    LATENCY_MS,
    OVERHEAD_MS,
    ERRORS,
    ERRORS_5XX,
    RETRIES,
    FALLBACKS,
    TOKENS_IN,
    TOKENS_OUT,
)
COUNTED_METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        COST_USD,
        BUDGET_REJECTED,
        BUDGET_USAGE_80,
        RATE_LIMITED,
        WAKE_REQUESTS,
        CANARY_ROLLBACKS,
        QUEUE_DEPTH,
        QUEUE_REJECTED,
    )
}
HEALTH_METRICS: tuple[MetricSpec, ...] = (
    HEALTHY_INSTANCES,
    UNHEALTHY_INSTANCES,
    NO_HEALTHY_INSTANCE,
)
ALL_METRICS: tuple[MetricSpec, ...] = (
    *REQUEST_METRICS,
    *COUNTED_METRICS.values(),
    ROUTER_COLD_START,
    HEALTH_COLD_START,
    *HEALTH_METRICS,
)
