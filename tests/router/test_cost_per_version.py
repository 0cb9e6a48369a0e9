"""Cost per model and version on the router's own scrape (the EMF side: test_metric_contract)."""

from __future__ import annotations

import pytest

from router import prometheus
from router.metrics import RouterMetrics


def _cost(model: str, version: str) -> float:
    body, _ = prometheus.exposition({})
    prefix = f'motherfluxer_cost_usd_total{{model="{model}",version="{version}"}} '
    for line in body.decode().splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix))
    return 0.0


def test_cost_is_counted_per_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    metrics = RouterMetrics(emf=False)
    v1, v2 = _cost("cost-m", "v1"), _cost("cost-m", "v2")
    metrics.count("CostUsd", 0.25, model="cost-m", version="v1")
    metrics.count("CostUsd", 0.5, model="cost-m", version="v2")
    metrics.count("CostUsd", 0.5, model="cost-m", version="v2")
    assert _cost("cost-m", "v1") == pytest.approx(v1 + 0.25)
    assert _cost("cost-m", "v2") == pytest.approx(v2 + 1.0)
