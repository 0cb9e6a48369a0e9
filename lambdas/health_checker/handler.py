"""EventBridge-scheduled Lambda: one round of active health checks per invocation."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aws_lambda_powertools import Logger

from contracts import env
from contracts.metrics import HEALTH_CHECKER_SERVICE
from health_checker.metrics import emit
from health_checker.probe import check_all
from health_checker.static import ensure_static, static_instances
from registry.repository import InstanceRepository

logger = Logger(service=HEALTH_CHECKER_SERVICE)

_repo: InstanceRepository | None = None


def _repository() -> InstanceRepository:
    global _repo
    if _repo is None:
        import boto3

        _repo = InstanceRepository(boto3.client("dynamodb"), os.environ[env.INSTANCES_TABLE])
    return _repo


def _sagemaker() -> Any:
    import boto3

    return boto3.client("sagemaker")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    ensure_static(
        _repository(),
        static_instances(
            env.json_object(env.SAGEMAKER_ENDPOINTS),
            env.json_object(env.EXTERNAL_PROVIDERS),
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
