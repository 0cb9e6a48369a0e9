"""EventBridge-scheduled Lambda: one round of active health checks per invocation."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from health_checker.probe import CheckReport, check_all
from health_checker.static import ensure_static, static_instances
from registry.repository import InstanceRepository

logger = Logger(service="health-checker")
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "MotherFluxer")

_repo: InstanceRepository | None = None


def _repository() -> InstanceRepository:
    global _repo
    if _repo is None:
        import boto3

        _repo = InstanceRepository(
            boto3.client("dynamodb"), os.environ["MOTHERFLUXER_INSTANCES_TABLE"]
        )
    return _repo


def _sagemaker() -> Any:
    import boto3

    return boto3.client("sagemaker")


def emit(report: CheckReport) -> None:
    for model in sorted(set(report.healthy_by_model) | set(report.unhealthy_by_model)):
        healthy = report.healthy_by_model.get(model, 0)
        doc = EphemeralMetrics(namespace=NAMESPACE, service="health-checker")
        doc.add_dimension(name="model", value=model)
        doc.add_metric(name="HealthyInstances", unit=MetricUnit.Count, value=healthy)
        doc.add_metric(
            name="UnhealthyInstances",
            unit=MetricUnit.Count,
            value=report.unhealthy_by_model.get(model, 0),
        )
        doc.add_metric(name="NoHealthyInstance", unit=MetricUnit.Count, value=int(healthy == 0))
        doc.flush_metrics()


def _json_env(name: str) -> dict[str, Any]:
    raw = os.environ.get(name)
    return json.loads(raw) if raw else {}


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ensure_static(
        _repository(),
        static_instances(
            _json_env("MOTHERFLUXER_SAGEMAKER_ENDPOINTS"),
            _json_env("MOTHERFLUXER_EXTERNAL_PROVIDERS"),
        ),
    )
    report = asyncio.run(check_all(_repository(), sagemaker_client_factory=_sagemaker))
    emit(report)
    logger.info(
        "health round done",
        extra={
            "probed": report.probed,
            "changed": len(report.changed),
            "lost_races": report.lost_races,
        },
    )
    return {"probed": report.probed, "changed": report.changed}
