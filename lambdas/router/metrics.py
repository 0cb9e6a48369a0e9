"""Router metrics: CloudWatch EMF through Powertools in Lambda, a log line locally."""

from __future__ import annotations

import logging
import os
from typing import Any

from router.dispatch import Outcome

logger = logging.getLogger("motherfluxer.router")


class RouterMetrics:
    """Emits one EMF document per request (model and version as dimensions)."""

    def __init__(self, namespace: str = "MotherFluxer", *, emf: bool | None = None) -> None:
        self._namespace = namespace
        self._emf = emf if emf is not None else bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))

    def _doc(self, **dims: str) -> Any:
        # EphemeralMetrics keeps no global state, so concurrent requests never mix dimensions.
        from aws_lambda_powertools.metrics import EphemeralMetrics

        doc = EphemeralMetrics(namespace=self._namespace, service="router")
        for key, value in dims.items():
            doc.add_dimension(name=key, value=value)
        return doc

    def record(self, outcome: Outcome) -> None:
        if not self._emf:
            logger.debug(
                "request done",
                extra={
                    "request_id": outcome.request_id,
                    "model": outcome.model,
                    "status": outcome.status,
                    "attempts": outcome.attempts,
                },
            )
            return
        from aws_lambda_powertools.metrics import MetricUnit

        doc = self._doc(model=outcome.model or "none", version=outcome.version or "none")
        doc.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        doc.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
        doc.add_metric(name="OverheadMs", unit=MetricUnit.Milliseconds, value=outcome.overhead_ms)
        if outcome.status >= 400:
            doc.add_metric(name="Errors", unit=MetricUnit.Count, value=1)
        if outcome.status >= 500:
            doc.add_metric(name="Errors5xx", unit=MetricUnit.Count, value=1)
        if outcome.attempts > 1:
            doc.add_metric(name="Retries", unit=MetricUnit.Count, value=outcome.attempts - 1)
        if outcome.fallback:
            doc.add_metric(name="Fallbacks", unit=MetricUnit.Count, value=1)
        if outcome.usage is not None:
            doc.add_metric(
                name="TokensIn", unit=MetricUnit.Count, value=outcome.usage.prompt_tokens
            )
            doc.add_metric(
                name="TokensOut", unit=MetricUnit.Count, value=outcome.usage.completion_tokens
            )
        doc.flush_metrics()

    def count(self, name: str, value: float = 1.0, **dims: str) -> None:
        if not self._emf:
            return
        from aws_lambda_powertools.metrics import MetricUnit

        doc = self._doc(**dims)
        doc.add_metric(name=name, unit=MetricUnit.Count, value=value)
        doc.flush_metrics()
