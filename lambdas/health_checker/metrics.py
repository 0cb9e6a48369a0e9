"""Health-checker metrics: per model, healthy / unhealthy / none-healthy after each round."""

from __future__ import annotations

import os

from contracts import emf, env
from contracts import metrics as contract
from health_checker.probe import CheckReport

_cold = True


def emit(report: CheckReport, models: tuple[str, ...] = ()) -> None:
    """One document per model; `models` adds catalog models that have no instance at all,
    so `NoHealthyInstance` fires for a model whose every instance vanished."""
    global _cold
    if _cold:
        _cold = False
        function = os.environ.get(env.LAMBDA_FUNCTION_NAME) or "local-health-checker"
        emf.emit(
            contract.HEALTH_CHECKER_SERVICE,
            {"function_name": function},
            [(contract.HEALTH_COLD_START, 1)],
        )
    seen = set(report.healthy_by_model) | set(report.unhealthy_by_model) | set(models)
    for model in sorted(seen):
        healthy = report.healthy_by_model.get(model, 0)
        emf.emit(
            contract.HEALTH_CHECKER_SERVICE,
            {"model": model},
            [
                (contract.HEALTHY_INSTANCES, healthy),
                (contract.UNHEALTHY_INSTANCES, report.unhealthy_by_model.get(model, 0)),
                (contract.NO_HEALTHY_INSTANCE, int(healthy == 0)),
            ],
        )
